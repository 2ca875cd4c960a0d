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
from relulab.data import BatchStream, DataSource, SyntheticSource
from relulab.data.suggested import training_set
from relulab.nets import rules as constraints
from relulab.nets.networks import Net
from relulab.training import fused, optim
from relulab.training.callbacks import Callback, StatsContext
from relulab.training.checkpoint import TrainState, capture, restore
from relulab.training.epoch_grads import EpochGradNorms
from relulab.training.optim import loss_and_grads, loss_chunked, loss_scale
from relulab.training.setup import (
    build,
    build_group,
    check_group,
    check_memory,
    draw_nets,
    predict_chunked,
)

__all__ = ["Interrupted", "StatsContext", "TrainResult", "build", "build_group", "train",
           "train_group"]


CheckpointFn = Callable[[TrainState], None]


class Interrupted(Exception):  # noqa: N818  (a stop, not an error)
    """Training stopped between two steps because ``stop()`` said so; ``state`` continues it
    (also passed to the checkpoint callback before this is raised)."""

    def __init__(self, state: TrainState):
        super().__init__(f"interrupted after step {state.step}")
        self.state = state


@dataclass
class TrainResult:
    cfg: RunConfig
    seeds: list[int]
    teacher: Net
    student: Net
    diverged: Tensor  # (S,) bool
    train_loss: Tensor  # (S,) mean loss over the last epoch
    eval_loss: Tensor  # (S,) final loss on the eval set
    scalars: list[dict] = field(default_factory=list)  # one row per (member, epoch)
    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    cfgs: list[RunConfig] = field(default_factory=list)  # config of each member (len S)
    loop_seconds: float = 0.0  # training loop only (excludes building nets and data)


# --- the training loop ----------------------------------------------------------------------

@dataclass
class _Run:
    """The loop's variables: fixed set-up above, what the loop updates below."""

    cfgs: list[RunConfig]
    seeds: list[int]
    teacher: Net
    eval_x: Tensor  # (S, N_eval, ...)
    eval_y: Tensor  # (S, N_eval, c)
    stream: BatchStream
    total: int  # steps to take
    opt: optim.Optimizer
    scale: float  # objective / MSE (loss_scale)
    fast: bool  # the fused SGD step applies while every member is alive
    rules: constraints.StudentRules | None  # applied after every update (None: no rule)
    student: Net
    opt_state: optim.FiniteState
    train_loss: Tensor  # (S,) mean over the last epoch (NaN when frozen)
    step: int = 0
    epoch: int = 0  # whole epochs done
    epoch_steps: int = 0  # steps done in the epoch under way
    loss_sum: Tensor | None = None  # (S,) running loss of the epoch under way
    last_batch: tuple[Tensor, Tensor] | None = None
    eval_loss: Tensor | None = None  # (S,) after the last epoch (NaN when frozen)
    rows: list[dict] = field(default_factory=list)
    all_alive: bool = True
    train_x: Tensor | None = None  # (S, N_train, ...)
    grad_norms: EpochGradNorms | None = None  # when cfg.stats.epoch_grad
    working: fused.WorkingSGD | None = None  # the fused step's parameter storage

    @property
    def cfg(self) -> RunConfig:
        return self.cfgs[0]

    @property
    def alive(self) -> Tensor:
        return self.opt_state.alive


def _setup(cfgs: list[RunConfig], seeds: list[int], device: torch.device | str,
           source: DataSource | None, nets: tuple[Net, Net] | None,
           max_steps: int | None) -> _Run:
    """Nets (drawn, or a copy of the given student), data with teacher targets, optimizer."""
    check_group(cfgs, seeds)
    check_memory(cfgs[0], len(seeds), device)
    src = source or SyntheticSource.for_members(cfgs, seeds, device)
    if nets is None:
        teacher, student = draw_nets(cfgs, seeds, src, device)
    else:
        teacher, student = nets[0], nets[1].detached()
    student, rules = constraints.prepare(cfgs[0].student, student)
    eval_x = src.eval_inputs()
    train_x = training_set(cfgs, seeds, teacher, src.train_inputs, eval_x)
    train_y = None if train_x is None else predict_chunked(teacher, train_x)
    cfg, o = cfgs[0], cfgs[0].optim
    opt = optim.apply_if_finite(optim.from_config(o))
    return _Run(
        cfgs=cfgs, seeds=seeds, teacher=teacher, eval_x=eval_x,
        eval_y=predict_chunked(teacher, eval_x),
        stream=src.stream(cfg.batch_size, train_x, train_y),
        total=o.epochs * cfg.steps_per_epoch if max_steps is None else max_steps,
        opt=opt, scale=loss_scale(cfg), rules=rules, fast=o.loss != "cross_entropy"
        and fused.supports(student, o.name, o.momentum, o.weight_decay),
        student=student, opt_state=opt.init(student.parameters()),
        train_loss=torch.full((len(seeds),), float("nan"), device=eval_x.device),
        train_x=train_x, grad_norms=EpochGradNorms() if cfg.stats.epoch_grad else None)


def _learning_rates(run: _Run, epoch: int) -> tuple[list[float], float | Tensor]:
    """Each member's learning rate in ``epoch``, and as the step takes it: one float when all
    are equal, else a tensor ``(S,)``."""
    lrs = [c.optim.lr_at(epoch) for c in run.cfgs]
    if len(set(lrs)) == 1:
        return lrs, lrs[0]
    return lrs, torch.tensor(lrs, device=run.eval_x.device, dtype=run.eval_x.dtype)


def _train_step(run: _Run, xb: Tensor, yb: Tensor, lr: float | Tensor) -> Tensor:
    """One update of every member; returns the loss ``(S,)`` (0 for frozen members)."""
    if run.fast and run.all_alive:
        before = run.grad_norms and run.grad_norms.snapshot(run.student.parameters())
        run.working, run.student, loss = fused.fast_step(  # per-step rules: in place
            run.working, run.student, xb, yb, lr, run.scale, storage=run.rules is None)
        if loss is not None:
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
    if run.fast:
        run.all_alive = bool(run.alive.all())
    return torch.where(run.alive, loss, 0.0)


def _train_epoch(run: _Run, lr: float | Tensor, stop: Callable[[], bool] | None,
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
            raise Interrupted(capture(run))
        xb, yb = run.stream.next()
        if yb is None:
            yb = predict_chunked(run.teacher, xb)
        run.loss_sum += _train_step(run, xb, yb, lr)
        if run.rules is not None:
            run.student = constraints.apply(run.rules, run.student, run.alive)
        run.step += 1
        run.epoch_steps += 1
        run.last_batch = (xb, yb)
        bar.update(1)
    run.train_loss = torch.where(run.alive, run.loss_sum / max(n_steps, 1), float("nan"))
    run.epoch, run.epoch_steps, run.loss_sum = run.epoch + 1, 0, None


def _eval_loss(run: _Run, given: Tensor | None = None) -> Tensor:
    """Loss ``(S,)`` of the current students on the eval set (NaN for frozen members):
    ``given`` by a statistics pass, else computed."""
    loss = (loss_chunked(run.student, run.eval_x, run.eval_y, run.cfg.optim.loss)
            if given is None else given.to(run.eval_x))
    return torch.where(run.alive, loss, float("nan"))


def _end_epoch(run: _Run, epoch: int, lrs: list[float], given: Tensor | None = None) -> None:
    """Eval loss after ``epoch`` epochs (``given`` by a statistics pass, else computed) and
    one scalar row per member."""
    run.eval_loss = _eval_loss(run, given)
    per_member = zip(run.seeds, lrs, run.train_loss.tolist(), run.eval_loss.tolist(),
                     (~run.alive).tolist(), strict=True)
    for i, (seed, lr, train_l, eval_l, dead) in enumerate(per_member):
        run.rows.append({"seed": seed, "member": i, "epoch": epoch, "step": run.step, "lr": lr,
                         "train_loss": train_l, "eval_loss": eval_l, "diverged": dead})


def _record(run: _Run, callbacks: Sequence[Callback], epoch: int, final: bool = False
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
    if ctx.eval_loss is not None and tuple(ctx.eval_loss.shape) != (len(run.seeds),):
        raise ValueError(f"a callback gave an eval loss of shape {tuple(ctx.eval_loss.shape)}, "
                         f"not ({len(run.seeds)},)")
    return ctx.eval_loss


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
        restore(run, resume)
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
                    checkpoint(capture(run))
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
