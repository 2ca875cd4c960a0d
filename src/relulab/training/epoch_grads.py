"""Gradient norms averaged over an epoch's steps (the original's per-epoch gradient norm).

Each step adds the L2 norm of every parameter's gradient, per member: weights then biases,
``(S,)`` each, of the objective the step descends (``scale`` x MSE, :func:`relulab.training.optim.
loss_scale`). The fused SGD path folds the update into the weights and never holds the
gradient, so there it is read off the parameter change: ``grad = (p_old − p_new) / lr``
(exact for plain SGD, the only optimizer the fused path takes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _norms(tensors: Sequence[Tensor]) -> Tensor:
    """``(P, S)``: per parameter, the per-member L2 norm of a tensor ``(S, ...)``."""
    return torch.stack([t.flatten(1).norm(dim=1) for t in tensors])


class EpochGradNorms:
    """Running sum over steps of the gradient norms ``(P, S)``; :meth:`mean` reads and resets.
    """

    def __init__(self) -> None:
        self.total: Tensor | None = None
        self.steps = 0

    def _add(self, norms: Tensor) -> None:
        self.total = norms if self.total is None else self.total + norms
        self.steps += 1

    def add_grads(self, grads: Sequence[Tensor]) -> None:
        """Add one step's gradients (weights then biases, ``(S, ...)`` each)."""
        self._add(_norms([g.detach() for g in grads]))

    @staticmethod
    def snapshot(params: Sequence[Tensor]) -> list[Tensor]:
        """Copies of the parameters before an in-place step."""
        return [p.detach().clone() for p in params]

    def add_change(self, before: Sequence[Tensor], after: Sequence[Tensor],
                   lr: float | Tensor) -> None:
        """Add one plain-SGD step's gradients from the parameters before and after it."""
        norms = _norms([b - a for b, a in zip(before, after, strict=True)])
        self._add(norms / (lr if isinstance(lr, float | int) else lr.reshape(1, -1)))

    def mean(self) -> tuple[Tensor, ...] | None:
        """The mean norm of each parameter over the steps since the last call, ``(S,)`` each
        (None if no step was added); resets the sums."""
        if self.total is None or self.steps == 0:
            return None
        out = tuple(self.total / self.steps)
        self.total, self.steps = None, 0
        return out
