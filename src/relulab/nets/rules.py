"""What the original code does to the student besides the gradient step (docs/conventions.md):
renormalization, no biases, frozen layers. Applied once at init and after every update, on both
the fused and the autograd path of :mod:`relulab.training.engine`, in this order:

- ``student.normalize``: ``fan_in`` = the two-layer code's ``normalize(W1)`` (each hidden node's
  incoming weights to unit norm, bias untouched); ``row_and_bias`` = the multilayer code's
  ``Model.normalize()`` (every layer's rows and biases divided by ``|row| + 1e-5``, output layer
  included). Conv filters count as rows of ``C_in * 3 * 3`` weights.
- ``student.bias = False``: every bias 0 (the two-layer code zeroes them after every step, the
  multilayer code has ``nn.Linear(bias=False)``; both are the same function).
- ``student.frozen``: those layers' weights and biases keep their values at init (after the
  init normalization), as the two-layer code's ``feature_fixed`` / ``top_layer_fixed`` skip
  their update. An affine BatchNorm's scale and shift are not frozen with their layer.

Members whose loss went non-finite (``alive`` False) are left exactly as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from relulab.config import StudentConfig
from relulab.nets.networks import Net

NORM_EPS = 1e-5  # row_and_bias: |row| + 1e-5, as the original's normalize_layer


@dataclass(frozen=True)
class StudentRules:
    """The rules of one run and the frozen layers' initial parameters."""

    normalize: str  # "none" | "fan_in" | "row_and_bias"
    bias: bool
    frozen: dict[int, tuple[Tensor, Tensor]]  # layer -> (weight, bias) at init


def _row_norms(w: Tensor) -> Tensor:
    """``(S, out, ...)`` -> ``(S, out, 1, ...)`` L2 norm of every row (conv filter)."""
    return w.flatten(2).norm(dim=2).reshape(*w.shape[:2], *(1,) * (w.dim() - 2))


def normalized(net: Net, mode: str) -> Net:
    """``net`` with its rows renormalized as ``mode`` (see the module docstring)."""
    if mode == "none":
        return net
    weights, biases = list(net.weights), list(net.biases)
    layers = range(net.depth) if mode == "fan_in" else range(net.depth + 1)
    for layer in layers:
        norm = _row_norms(weights[layer])
        if mode == "row_and_bias":
            norm = norm + NORM_EPS
            biases[layer] = biases[layer] / norm.flatten(1)
        weights[layer] = weights[layer] / norm
    return replace(net, weights=tuple(weights), biases=tuple(biases))


def _constrained(rules: StudentRules, net: Net) -> Net:
    net = normalized(net, rules.normalize)
    biases = list(net.biases) if rules.bias else [torch.zeros_like(b) for b in net.biases]
    weights = list(net.weights)
    for layer, (w, b) in rules.frozen.items():  # copies: the fused step updates in place
        weights[layer], biases[layer] = w.clone(), b.clone()
    return replace(net, weights=tuple(weights), biases=tuple(biases))


def prepare(cfg: StudentConfig, student: Net) -> tuple[Net, StudentRules | None]:
    """The student with the rules applied at init, and the rules for every later step (None
    when ``cfg`` sets none, so the engine skips them)."""
    if cfg.normalize == "none" and cfg.bias and not cfg.frozen:
        return student, None
    rules = StudentRules(cfg.normalize, cfg.bias, {})
    student = _constrained(rules, student)
    layers = student.depth + 1
    frozen = {i % layers: (student.weights[i % layers].clone(), student.biases[i % layers].clone())
              for i in cfg.frozen}
    return student, replace(rules, frozen=frozen)


@torch.no_grad()
def apply(rules: StudentRules, net: Net, alive: Tensor) -> Net:
    """``net`` after one update with the rules applied to the members that are ``alive (S,)``."""
    new = _constrained(rules, net)

    def keep_dead(a: tuple[Tensor, ...], b: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return tuple(x if x is y else torch.where(alive.reshape(-1, *(1,) * (x.dim() - 1)), x, y)
                     for x, y in zip(a, b, strict=True))

    return replace(new, weights=keep_dead(new.weights, net.weights),
                   biases=keep_dead(new.biases, net.biases))
