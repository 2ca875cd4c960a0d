"""What a statistics callback of :func:`relulab.training.engine.train_group` sees (re-exported by
:mod:`relulab.training.engine`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

from relulab.config import RunConfig
from relulab.nets.networks import Net


@dataclass
class StatsContext:
    """What a statistics callback sees (all tensors carry the leading seed axis S)."""

    cfg: RunConfig
    seeds: list[int]
    epoch: int  # epochs completed (0 = at init)
    step: int  # steps completed
    teacher: Net
    student: Net
    eval_x: Tensor  # (S, N_eval, ...)
    diverged: Tensor  # (S,) bool
    grads: tuple[Tensor, ...] | None  # last step's gradients, weights then biases (None at init)
    final: bool = False
    cfgs: list[RunConfig] = field(default_factory=list)  # config of each member (len S)
    train_x: Tensor | None = None  # (S, N_train, ...) the training set (None: fresh samples)
    epoch_grad_norms: tuple[Tensor, ...] | None = None  # (S,) per parameter (weights then
    # biases): mean gradient norm over the last epoch's steps (None at init / stats.epoch_grad off)
    eval_y: Tensor | None = None  # (S, N_eval, c) the eval set's targets
    # The eval loss is the engine's (optim.loss_chunked). A callback whose own pass over the
    # whole eval set runs the same chunks (nets.passes.eval_chunk) and output error
    # (nets.passes.output_sq_error) has computed the same number on the way; it may leave it
    # here, (S,), to spare the engine a second pass. The value does not change (tested).
    shared_eval_loss: Tensor | None = None


Callback = Callable[[StatsContext], None]
