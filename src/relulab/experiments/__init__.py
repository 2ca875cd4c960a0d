"""Paper experiments, one module each; each builds its set-up and calls theory or the engine.

- :mod:`~relulab.experiments.specialization` — Student Specialization sweeps (preset + grid +
  seeds), re-exported here.
- :mod:`~relulab.experiments.saddles` — Tian 2017 §5 critical points, read as the paper does.
- :mod:`~relulab.experiments.convergence` — Tian 2017 single-ReLU convergence and symmetry
  breaking.
- :mod:`~relulab.experiments.thm5` — Luck Matters Theorems 4–5 (fan-out pruning, "luck").
- :mod:`~relulab.experiments.rule_check` — Luck Matters Theorem 1 and its matrix form vs autograd.
- :mod:`~relulab.experiments.overlay` — Tian 2017 SGD (fresh samples) vs the population gradient
  flow from the same init (``relulab theory overlay``).
- :mod:`~relulab.experiments.matrix_track` — the matrix-form update vs the actual expected
  gradient per layer along a training run (``relulab theory overlay``, deep part).

Only the sweeps are re-exported: they are torch-free, the other modules import torch.
"""

from relulab.experiments.specialization import (
    DEMO_SWEEP,
    PAPER_TWO_LAYER_SWEEP,
    SWEEPS,
    SweepPreset,
    get_sweep,
)

__all__ = ["DEMO_SWEEP", "PAPER_TWO_LAYER_SWEEP", "SWEEPS", "SweepPreset", "get_sweep"]
