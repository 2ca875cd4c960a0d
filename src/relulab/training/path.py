"""Which update a group's step takes, decided in one place.

Three updates give the same parameters (tested against autograd in float64):

- ``"working"``: the fused SGD step on GEMM-friendly working storage
  (:class:`relulab.training.fused.WorkingSGD`), the fastest; plain-ReLU fc students without
  BatchNorm, plain SGD on an MSE objective, no per-step rule.
- ``"in_place"``: the fused SGD step on the net's own tensors
  (:func:`relulab.training.fused.sgd_step`); the same, with Leaky ReLU or a per-step rule
  (renormalization, frozen layers) applied after each update.
- ``"autograd"``: autograd and the configured optimizer (:mod:`relulab.training.optim`), for
  everything else. It also freezes members whose loss is not finite, which the fused steps
  cannot: once a member is frozen, or when a fused step meets a non-finite loss (it then
  updates nothing), the step is taken by autograd (:meth:`StepPath.now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relulab.config import RunConfig
from relulab.nets.networks import Net

Step = Literal["working", "in_place", "autograd"]


@dataclass(frozen=True)
class StepPath:
    """The update a run takes while every member is alive (``fused``), and why."""

    fused: Step
    reason: str  # one line: why not a faster path (empty for "working")

    def now(self, all_alive: bool) -> Step:
        """The update of the next step: ``fused`` while every member is alive, else autograd."""
        return self.fused if all_alive else "autograd"


def choose(student: Net, cfg: RunConfig, has_rules: bool) -> StepPath:
    """The :class:`StepPath` of ``student`` trained under ``cfg`` (``has_rules``: a per-step
    rule applies after every update)."""
    o = cfg.optim
    if o.loss == "cross_entropy":
        return StepPath("autograd", "cross-entropy objective")
    if not student.plain_fc:
        return StepPath("autograd", "conv or BatchNorm student")
    if o.name not in ("sgd", "gd") or o.momentum != 0.0 or o.weight_decay != 0.0:
        return StepPath("autograd", "optimizer with state (Adam, momentum or weight decay)")
    if has_rules:
        return StepPath("in_place", "a per-step rule applies after every update")
    if student.leaky_slope != 0.0:
        return StepPath("in_place", "Leaky ReLU")
    return StepPath("working", "")
