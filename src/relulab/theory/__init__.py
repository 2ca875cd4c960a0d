"""Theory as code: the papers' closed forms, reduced dynamics and gradient rules (docs/theory.md–2).

Pure functions on float64 tensors, batched over leading axes; independent of the training engine.
The experiments built on them live in :mod:`relulab.experiments`, their figures in
:mod:`relulab.plots.theory`.

- :mod:`~relulab.theory.population` — Tian 2017 population loss/gradient (k, F, J, ∂J/∂W) and
  batched gradient flow / descent.
- :mod:`~relulab.theory.ode` — batched Euler, RK4 and adaptive Dormand–Prince integrators.
- :mod:`~relulab.theory.symmetric` — the 2-D reduced dynamics for W* = I and its critical points.
- :mod:`~relulab.theory.single_relu` — K = 1: the convergent region's probability and the
  paper's (1 − ε)/2 bound.
- :mod:`~relulab.theory.recursive` — Luck Matters Theorem 1, exact per sample.
- :mod:`~relulab.theory.matrix_form` — the matrix-form expected gradient and its error.
"""

from relulab.theory.matrix_form import LayerTerms, expectations, predicted_update
from relulab.theory.ode import dormand_prince, fixed_step
from relulab.theory.population import (
    F,
    Trajectory,
    angle,
    angles_to_teacher,
    descend,
    flow,
    grad,
    k,
    loss,
)
from relulab.theory.recursive import (
    RuleTerms,
    autograd_gradients,
    gradient_rule,
    random_net,
    rule_errors,
    weight_gradients,
)
from relulab.theory.single_relu import basin_probability, paper_bound
from relulab.theory.symmetric import (
    CriticalPoint,
    classify,
    critical_points,
    diagonal_saddle_x,
    reduced_field,
    reduced_loss,
    symmetric_weights,
)

__all__ = [
    "CriticalPoint", "F", "LayerTerms", "RuleTerms", "Trajectory", "angle", "angles_to_teacher",
    "autograd_gradients", "basin_probability", "classify", "critical_points", "descend",
    "diagonal_saddle_x", "dormand_prince", "expectations", "fixed_step", "flow", "grad",
    "gradient_rule", "k", "loss", "paper_bound", "predicted_update", "random_net",
    "reduced_field", "reduced_loss", "rule_errors", "symmetric_weights", "weight_gradients",
]
