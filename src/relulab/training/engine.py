"""Training engine: S seeds (or compatible configs) trained as one tensor program.

:func:`train_group` is one loop over epochs (nanoGPT's train.py shape)::

    run = _setup(...)                               # nets, data, optimizer
    for epoch in range(ceil(run.total / steps_per_epoch)):
        lrs, lr = _learning_rates(run, epoch)       # per member
        _train_epoch(run, lr)                       # steps: batch, loss, gradient, update
        _record(run, callbacks, epoch + 1)          # every ``stats_every`` epochs, at the end
        _end_epoch(run, epoch + 1, lrs)             # eval loss (or the statistics'), rows

A member whose loss becomes NaN/inf is frozen (its parameters and optimizer state keep their
last finite values, :func:`relulab.training.optim.apply_if_finite`); the other members are
unaffected because every tensor op is per member.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from relulab.config import RunConfig
from relulab.data import DataSource, SyntheticSource, suggested
from relulab.nets import rules as student_rules
from relulab.nets.networks import Net
from relulab.results.schema import SCALAR_COLUMNS
from relulab.training import fused, optim, path
from relulab.training.callbacks import Callback, StatsContext
from relulab.training.checkpoint import TrainState
from relulab.training.epoch_grads import EpochGradNorms
from relulab.training.optim import loss_and_grads, loss_chunked, loss_scale
from relulab.training.run import Run
from relulab.training.setup import (
    check_group,
    check_memory,
    draw_nets,
    predict_chunked,
)

__all__ = ["Interrupted", "StatsContext", "TrainResult", "train", "train_group"]


CheckpointFn = Callable[[TrainState], None]


class Interrupted(Exception):  # noqa: N818  (a stop, not an error)
    """Training stopped between two steps because ``stop()`` said so; ``state`` continues it
    (also passed to the checkpoint callback before this is raised)."""

    def __init__(self, state: TrainState):
        super().__init__(f"interrupted after step {state.step}")
        self.state = state


@dataclass(repr=False)
class TrainResult:
    """A finished group: its nets (seed axis S first), final losses, the per-epoch rows, and
    the statistics rows when statistics were recorded (:func:`relulab.train` records them)."""

    cfg: RunConfig
    seeds: list[int]
    teacher: Net
    student: Net
    diverged: Tensor  # (S,) bool
    train_loss: Tensor  # (S,) mean loss over the last epoch
    eval_loss: Tensor  # (S,) final loss on the eval set
    rows: list[dict] = field(default_factory=list)  # one per (member, epoch): the scalars
    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    cfgs: list[RunConfig] = field(default_factory=list)  # config of each member (len S)
    loop_seconds: float = 0.0  # training loop only (excludes building nets and data)
    layer_rows: list[dict] = field(default_factory=list)  # one per (member, layer, epoch)

    @property
    def scalars(self) -> Any:
        """The per-epoch scalars as a DataFrame: seed, member, epoch, step, lr, train_loss,
        eval_loss, diverged (the columns of the results schema)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(_SCALAR_FRAME))

    @property
    def layers(self) -> Any:
        """The statistics rows as a DataFrame, one per (seed, hidden layer, recorded epoch)
        (empty when no statistics were recorded)."""
        import pandas as pd

        return pd.DataFrame(self.layer_rows)

    def student_modules(self) -> list[Any]:
        """The trained students as S ``nn.Sequential`` in eval mode."""
        from relulab.nets import to_modules

        return to_modules(self.student)

    def teacher_modules(self) -> list[Any]:
        """The teachers as S ``nn.Sequential`` in eval mode."""
        from relulab.nets import to_modules

        return to_modules(self.teacher)

    def __repr__(self) -> str:
        s = self.student
        loss = float(self.eval_loss.nanmean()) if self.eval_loss.numel() else float("nan")
        return (f"TrainResult(seeds={self.seeds if len(self.seeds) <= 8 else len(self.seeds)}, "
                f"{s.kind} student widths={list(s.widths)}, teacher widths="
                f"{list(self.teacher.widths)}, steps={self.steps}, "
                f"diverged={int(self.diverged.sum())}, mean eval loss={loss:.4g}, "
                f"rows={len(self.rows)}, layer rows={len(self.layer_rows)}, "
                f"device={self.device})")


_SCALAR_FRAME = ("seed", "member", "epoch", "step", *SCALAR_COLUMNS)


# --- the training loop ---------------------------------------------------------------------

def _setup(cfgs: list[RunConfig], seeds: list[int], device: torch.device | str,
           source: DataSource | None, nets: tuple[Net, Net] | None,
           max_steps: int | None) -> Run:
    """Nets (drawn, or a copy of the given student), data with teacher targets, optimizer."""
    check_group(cfgs, seeds)
    check_memory(cfgs[0], len(seeds), device)
    src = source or SyntheticSource.for_members(cfgs, seeds, device)
    if nets is None:
        teacher, student = draw_nets(cfgs, seeds, src, device)
    else:
        teacher, student = nets[0], nets[1].detached()
    student, rules = student_rules.prepare(cfgs[0].student, student)
    src = suggested.with_teacher(src, cfgs, seeds, teacher)  # a teacher-dependent training set
    eval_x = src.eval_inputs()
    train_x = src.train_inputs()
    train_y = None if train_x is None else predict_chunked(teacher, train_x)
    cfg, o = cfgs[0], cfgs[0].optim
    opt = optim.apply_if_finite(optim.from_config(o))
    return Run(
        cfgs=cfgs, seeds=seeds, teacher=teacher, eval_x=eval_x,
        eval_y=predict_chunked(teacher, eval_x),
        stream=src.stream(cfg.batch_size, train_x, train_y),
        total=o.epochs * cfg.steps_per_epoch if max_steps is None else max_steps,
        opt=opt, scale=loss_scale(cfg), rules=rules,
        path=path.choose(student, cfg, has_rules=rules is not None),
        student=student, opt_state=opt.init(student.parameters()),
        train_loss=torch.full((len(seeds),), float("nan"), device=eval_x.device),
        train_x=train_x, grad_norms=EpochGradNorms() if cfg.stats.epoch_grad else None)


def _learning_rates(run: Run, epoch: int) -> tuple[list[float], float | Tensor]:
    """Each member's learning rate in ``epoch``, and as the step takes it: one float when all
    are equal, else a tensor ``(S,)``."""
    lrs = [c.optim.lr_at(epoch) for c in run.cfgs]
    if len(set(lrs)) == 1:
        return lrs, lrs[0]
    return lrs, torch.tensor(lrs, device=run.eval_x.device, dtype=run.eval_x.dtype)


def _train_step(run: Run, xb: Tensor, yb: Tensor, lr: float | Tensor) -> Tensor:
    """One update of every member; returns the loss ``(S,)`` (0 for frozen members)."""
    step = run.path.now(run.all_alive)
    if step != "autograd":
        before = run.grad_norms and run.grad_norms.snapshot(run.student.parameters())
        run.working, run.student, loss = fused.fast_step(
            run.working, run.student, xb, yb, lr, run.scale, storage=step == "working")
        if loss is not None:
            run.opt_state = optim.counted(run.opt_state)
            if run.grad_norms is not None:
                run.grad_norms.add_change(before, run.student.parameters(), lr)
            return loss
    # general path: autograd, optimizer that freezes members with non-finite loss
    loss, grads = loss_and_grads(run.student, xb, yb, scale=run.scale, loss=run.cfg.optim.loss)
    if run.grad_norms is not None:
        run.grad_norms.add_grads(grads)
    params, run.opt_state = run.opt.update(grads, run.opt_state, run.student.parameters(), lr,
                                           loss)
    run.student = run.student.with_parameters(params)
    if run.path.fused != "autograd":
        run.all_alive = bool(run.alive.all())
    return torch.where(run.alive, loss, 0.0)


def _train_epoch(run: Run, lr: float | Tensor, stop: Callable[[], bool] | None,
                 bar: Any) -> None:
    """The steps left in epoch ``run.epoch`` (fewer at the end of ``total``); raises
    :class:`Interrupted` between two steps when ``stop()`` is true."""
    n_steps = min(run.cfg.steps_per_epoch, run.total - run.epoch * run.cfg.steps_per_epoch)
    if run.grad_norms is not None and run.epoch_steps == 0:
        run.grad_norms.mean()  # the mean covers this epoch's steps only
    if run.loss_sum is None:
        run.loss_sum = torch.zeros(len(run.seeds), device=run.eval_x.device,
                                   dtype=run.eval_x.dtype)
    while run.epoch_steps < n_steps:
        if stop is not None and stop():
            raise Interrupted(run.state_dict())
        xb, yb = run.stream.next()
        if yb is None:
            yb = predict_chunked(run.teacher, xb)
        run.loss_sum += _train_step(run, xb, yb, lr)
        if run.rules is not None:
            run.student = student_rules.apply(run.rules, run.student, run.alive)
        run.step += 1
        run.epoch_steps += 1
        run.last_batch = (xb, yb)
        bar.update(1)
    run.train_loss = torch.where(run.alive, run.loss_sum / max(n_steps, 1), float("nan"))
    run.epoch, run.epoch_steps, run.loss_sum = run.epoch + 1, 0, None


def _eval_loss(run: Run, given: Tensor | None = None) -> Tensor:
    """Loss ``(S,)`` of the current students on the eval set (NaN for frozen members):
    ``given`` by a statistics pass, else computed."""
    loss = (loss_chunked(run.student, run.eval_x, run.eval_y, run.cfg.optim.loss)
            if given is None else given.to(run.eval_x))
    return torch.where(run.alive, loss, float("nan"))


def _end_epoch(run: Run, epoch: int, lrs: list[float], given: Tensor | None = None) -> None:
    """Eval loss after ``epoch`` epochs (``given`` by a statistics pass, else computed) and
    one scalar row per member."""
    run.eval_loss = _eval_loss(run, given)
    per_member = zip(run.seeds, lrs, run.train_loss.tolist(), run.eval_loss.tolist(),
                     (~run.alive).tolist(), strict=True)
    for i, (seed, lr, train_l, eval_l, dead) in enumerate(per_member):
        run.rows.append({"seed": seed, "member": i, "epoch": epoch, "step": run.step, "lr": lr,
                         "train_loss": train_l, "eval_loss": eval_l, "diverged": dead})


def _record(run: Run, callbacks: Sequence[Callback], epoch: int, final: bool = False
            ) -> Tensor | None:
    """Statistics callbacks on the current nets, with the last batch's gradient at the
    current parameters; returns the eval loss ``(S,)`` if a callback's pass gave it."""
    if not callbacks:
        return None
    grads = None if run.last_batch is None else loss_and_grads(
        run.student, *run.last_batch, train=False, scale=run.scale, loss=run.cfg.optim.loss)[1]
    ctx = StatsContext(run.cfg, run.seeds, epoch, run.step, run.teacher, run.student,
                       run.eval_x, ~run.alive, grads, final, run.cfgs, run.train_x,
                       run.grad_norms.mean() if run.grad_norms is not None else None,
                       run.eval_y)
    for cb in callbacks:
        cb(ctx)
    shared = ctx.shared_eval_loss
    if shared is not None and tuple(shared.shape) != (len(run.seeds),):
        raise ValueError(f"a callback shared an eval loss of shape {tuple(shared.shape)}, "
                         f"not ({len(run.seeds)},)")
    return shared


def train(cfg: RunConfig, seeds: Sequence[int], **kwargs: Any) -> TrainResult:
    """Train one student per seed against that seed's teacher, all seeds in one program
    (keyword arguments as :func:`train_group`)."""
    seeds = list(seeds)
    return train_group([cfg] * len(seeds), seeds, **kwargs)


def train_group(cfgs: Sequence[RunConfig], seeds: Sequence[int], *,
                device: torch.device | str = "cpu", callbacks: Sequence[Callback] = (),
                progress: bool = False, max_steps: int | None = None,
                source: DataSource | None = None, nets: tuple[Net, Net] | None = None,
                checkpoint: CheckpointFn | None = None, resume: TrainState | None = None,
                stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train members ``(cfgs[i], seeds[i])`` (equal :func:`group_key`) as one tensor program.

    ``max_steps`` stops early (overrides epochs). ``nets=(teacher, student)`` starts from
    given networks instead of drawing them (the student is copied, not changed). Callbacks
    run at init, every ``stats_every`` epochs and at the end. Member i's result does not
    depend on the other members.

    ``checkpoint(state)`` is called after every statistics point (every epoch when
    ``stats_every`` is 0); ``resume=state`` continues such a state bit-identically (callbacks
    restore their own state; the init call is not repeated). ``stop()`` is polled between
    steps: when true, ``checkpoint`` gets the state and :class:`Interrupted` is raised.
    """
    t0 = time.perf_counter()
    run = _setup(list(cfgs), list(seeds), device, source, nets, max_steps)
    every, spe = run.cfg.stats_every, run.cfg.steps_per_epoch
    if resume is None:  # with no steps to take, the initial statistics are also the final ones
        _record(run, callbacks, epoch=0, final=run.total == 0)
    else:
        run.load_state_dict(resume)
    t_loop = time.perf_counter()
    with tqdm(total=run.total, initial=run.step, disable=not progress, unit="step",
              desc=f"train S={len(run.seeds)}", mininterval=0.5) as bar:
        try:
            for epoch in range(run.epoch, math.ceil(run.total / spe)):
                lrs, lr = _learning_rates(run, epoch)
                _train_epoch(run, lr, stop, bar)
                last = run.step >= run.total
                given = None  # statistics first: their eval pass may give the eval loss
                if last or (every and (epoch + 1) % every == 0):
                    given = _record(run, callbacks, epoch + 1, final=last)
                _end_epoch(run, epoch + 1, lrs, given)
                bar.set_postfix(loss=f"{float(run.train_loss.nanmean()):.3g}")
                if checkpoint is not None and (last or not every or (epoch + 1) % every == 0):
                    checkpoint(run.state_dict())
        except Interrupted as stopped:
            if checkpoint is not None:
                checkpoint(stopped.state)
            raise
    loop_seconds = time.perf_counter() - t_loop
    final_eval = run.eval_loss if run.eval_loss is not None else _eval_loss(run)
    return TrainResult(run.cfg, run.seeds, run.teacher, run.student, ~run.alive,
                       run.train_loss, final_eval, run.rows, run.step,
                       time.perf_counter() - t0, str(run.eval_x.device), run.cfgs,
                       loop_seconds)
