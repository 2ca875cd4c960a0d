"""Training engine: S seeds (or compatible configs) trained as one tensor program.

:func:`train_group` is one loop over epochs (nanoGPT's train.py shape)::

    run = _setup(...)                               # nets, data, optimizer
    for epoch in range(ceil(run.total / steps_per_epoch)):
        lrs, lr = _learning_rates(run, epoch)       # per member
        _train_epoch(run, lr)                       # steps: batch, loss, gradient, update
        _end_epoch(run, epoch + 1, lrs)             # eval loss, one row per member
        _record(run, callbacks, epoch + 1)          # every ``stats_every`` epochs, at the end

A member whose loss becomes NaN/inf is frozen (its parameters and optimizer state keep their
last finite values, :func:`relulab.optim.apply_if_finite`); the other members are unaffected
because every tensor op is per member.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from relulab import fused, optim
from relulab.config import ConfigError, RunConfig, group_key
from relulab.data import BatchStream, DataSource, SyntheticSource
from relulab.epoch_grads import EpochGradNorms
from relulab.networks import Net, concat, predict
from relulab.optim import loss_and_grads, loss_scale, mse_per_seed
from relulab.rng import data_seed, generator
from relulab.stats_context import Callback, StatsContext
from relulab.students import make_students
from relulab.teachers import make_teachers
from relulab.theory_suggested import training_set


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


# --- building members: teachers, students, data ---------------------------------------------

def _check_group(cfgs: Sequence[RunConfig], seeds: Sequence[int]) -> None:
    if len(cfgs) != len(seeds) or not seeds:
        raise ConfigError("need one config per seed and at least one seed")
    if len({group_key(c) for c in cfgs}) != 1:
        raise ConfigError("configs in one batched run must have equal shapes and schedules")


def _draw_nets(cfgs: Sequence[RunConfig], seeds: Sequence[int], src: DataSource,
               device: torch.device | str) -> tuple[Net, Net]:
    """Teachers and students of the members, each from its own generators; equal-config runs
    are drawn together."""
    dtype = getattr(torch, cfgs[0].dtype)
    data_seeds = [data_seed(s, c.shared_teacher) for c, s in zip(cfgs, seeds, strict=True)]
    needs_tuning = any(c.teacher.bias_tuning or c.teacher.standardize_output for c in cfgs)
    tuning = src.eval_inputs() if needs_tuning else None
    teachers, students, a = [], [], 0
    for c, equal in groupby(cfgs):  # consecutive members [a, b) with one config
        b = a + len(list(equal))
        teachers.append(make_teachers(
            c.teacher, [generator(c.root_seed, s, "teacher") for s in data_seeds[a:b]],
            tuning_inputs=None if tuning is None else tuning[a:b], dtype=dtype, device=device))
        students.append(make_students(
            c, [generator(c.root_seed, s, "student") for s in seeds[a:b]], dtype=dtype,
            device=device))
        a = b
    return concat(teachers), concat(students)


def build_group(cfgs: Sequence[RunConfig], seeds: Sequence[int], *,
                device: torch.device | str = "cpu", source: DataSource | None = None
                ) -> tuple[Net, Net, DataSource]:
    """Teachers, students and data for members ``(cfgs[i], seeds[i])``."""
    cfgs, seeds = list(cfgs), list(seeds)
    _check_group(cfgs, seeds)
    src = source or SyntheticSource.for_members(cfgs, seeds, device)
    return (*_draw_nets(cfgs, seeds, src, device), src)


def build(cfg: RunConfig, seeds: Sequence[int], *, device: torch.device | str = "cpu",
          source: DataSource | None = None) -> tuple[Net, Net, DataSource]:
    """Teachers, students and data source for ``seeds`` of one config."""
    return build_group([cfg] * len(list(seeds)), list(seeds), device=device, source=source)


@torch.no_grad()
def _predict_chunked(net: Net, x: Tensor, chunk: int = 8192) -> Tensor:
    return torch.cat([predict(net, x[:, i:i + chunk]) for i in range(0, x.shape[1], chunk)], 1)


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
    student: Net
    opt_state: optim.FiniteState
    train_loss: Tensor  # (S,) mean over the last epoch (NaN when frozen)
    step: int = 0
    last_batch: tuple[Tensor, Tensor] | None = None
    eval_loss: Tensor | None = None  # (S,) after the last epoch (NaN when frozen)
    rows: list[dict] = field(default_factory=list)
    all_alive: bool = True
    train_x: Tensor | None = None  # (S, N_train, ...)
    grad_norms: EpochGradNorms | None = None  # when cfg.stats.epoch_grad

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
    _check_group(cfgs, seeds)
    src = source or SyntheticSource.for_members(cfgs, seeds, device)
    if nets is None:
        teacher, student = _draw_nets(cfgs, seeds, src, device)
    else:
        teacher, student = nets[0], nets[1].detached()
    eval_x = src.eval_inputs()
    train_x = training_set(cfgs, seeds, teacher, src.train_inputs, eval_x)
    train_y = None if train_x is None else _predict_chunked(teacher, train_x)
    cfg, o = cfgs[0], cfgs[0].optim
    opt = optim.apply_if_finite(optim.from_config(o))
    return _Run(
        cfgs=cfgs, seeds=seeds, teacher=teacher, eval_x=eval_x,
        eval_y=_predict_chunked(teacher, eval_x),
        stream=src.stream(cfg.batch_size, train_x, train_y),
        total=o.epochs * cfg.steps_per_epoch if max_steps is None else max_steps,
        opt=opt, scale=loss_scale(cfg),
        fast=fused.supports(student, o.name, o.momentum, o.weight_decay),
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
        loss = fused.sgd_step(run.student, xb, yb, lr, run.scale)
        if loss is not None:
            if run.grad_norms is not None:
                run.grad_norms.add_change(before, run.student.parameters(), lr)
            return loss
    # general path: autograd, optimizer that freezes members with non-finite loss
    loss, grads = loss_and_grads(run.student, xb, yb, scale=run.scale)  # (S,), per member
    if run.grad_norms is not None:
        run.grad_norms.add_grads(grads)
    params, run.opt_state = run.opt.update(grads, run.opt_state, run.student.parameters(), lr,
                                           loss)
    run.student = run.student.with_parameters(params)
    if run.fast:
        run.all_alive = bool(run.alive.all())
    return torch.where(run.alive, loss, 0.0)


def _train_epoch(run: _Run, lr: float | Tensor) -> int:
    """The steps of one epoch (fewer at the end of ``total``); returns how many it took."""
    n_steps = min(run.cfg.steps_per_epoch, run.total - run.step)
    if run.grad_norms is not None:
        run.grad_norms.mean()  # the mean covers this epoch's steps only
    loss_sum = torch.zeros(len(run.seeds), device=run.eval_x.device, dtype=run.eval_x.dtype)
    for _ in range(n_steps):
        xb, yb = run.stream.next()
        if yb is None:
            yb = _predict_chunked(run.teacher, xb)
        loss_sum += _train_step(run, xb, yb, lr)
        run.step += 1
        run.last_batch = (xb, yb)
    run.train_loss = torch.where(run.alive, loss_sum / max(n_steps, 1), float("nan"))
    return n_steps


def _eval_loss(run: _Run) -> Tensor:
    """Loss ``(S,)`` of the current students on the eval set (NaN for frozen members)."""
    with torch.no_grad():
        loss = mse_per_seed(_predict_chunked(run.student, run.eval_x), run.eval_y)
    return torch.where(run.alive, loss, float("nan"))


def _end_epoch(run: _Run, epoch: int, lrs: list[float]) -> None:
    """Eval loss after ``epoch`` epochs and one scalar row per member."""
    run.eval_loss = _eval_loss(run)
    per_member = zip(run.seeds, lrs, run.train_loss.tolist(), run.eval_loss.tolist(),
                     (~run.alive).tolist(), strict=True)
    for i, (seed, lr, train_l, eval_l, dead) in enumerate(per_member):
        run.rows.append({"seed": seed, "member": i, "epoch": epoch, "step": run.step, "lr": lr,
                         "train_loss": train_l, "eval_loss": eval_l, "diverged": dead})


def _record(run: _Run, callbacks: Sequence[Callback], epoch: int, final: bool = False) -> None:
    """Statistics callbacks on the current nets, with the last batch's gradient at the
    current parameters."""
    if not callbacks:
        return
    grads = None
    if run.last_batch is not None:
        grads = loss_and_grads(run.student, *run.last_batch, train=False, scale=run.scale)[1]
    ctx = StatsContext(run.cfg, run.seeds, epoch, run.step, run.teacher, run.student,
                       run.eval_x, ~run.alive, grads, final, run.cfgs, run.train_x,
                       run.grad_norms.mean() if run.grad_norms is not None else None)
    for cb in callbacks:
        cb(ctx)


def train(cfg: RunConfig, seeds: Sequence[int], **kwargs: Any) -> TrainResult:
    """Train one student per seed against that seed's teacher, all seeds in one program
    (keyword arguments as :func:`train_group`)."""
    seeds = list(seeds)
    return train_group([cfg] * len(seeds), seeds, **kwargs)


def train_group(cfgs: Sequence[RunConfig], seeds: Sequence[int], *,
                device: torch.device | str = "cpu", callbacks: Sequence[Callback] = (),
                progress: bool = False, max_steps: int | None = None,
                source: DataSource | None = None, nets: tuple[Net, Net] | None = None
                ) -> TrainResult:
    """Train members ``(cfgs[i], seeds[i])`` (equal :func:`group_key`) as one tensor program.

    ``max_steps`` stops early (overrides epochs). ``nets=(teacher, student)`` starts from
    given networks instead of drawing them (the student is copied, not changed). Callbacks
    run at init, every ``stats_every`` epochs and at the end. Member i's result does not
    depend on the other members.
    """
    t0 = time.perf_counter()
    run = _setup(list(cfgs), list(seeds), device, source, nets, max_steps)
    every, spe = run.cfg.stats_every, run.cfg.steps_per_epoch
    _record(run, callbacks, epoch=0)
    t_loop = time.perf_counter()
    with tqdm(total=run.total, disable=not progress, unit="step",
              desc=f"train S={len(run.seeds)}", mininterval=0.5) as bar:
        for epoch in range(math.ceil(run.total / spe)):
            lrs, lr = _learning_rates(run, epoch)
            bar.update(_train_epoch(run, lr))
            _end_epoch(run, epoch + 1, lrs)
            bar.set_postfix(loss=f"{float(run.train_loss.nanmean()):.3g}")
            last = run.step >= run.total
            if last or (every and (epoch + 1) % every == 0):
                _record(run, callbacks, epoch + 1, final=last)
    loop_seconds = time.perf_counter() - t_loop
    if run.total == 0:
        _record(run, callbacks, epoch=0, final=True)
    final_eval = run.eval_loss if run.eval_loss is not None else _eval_loss(run)
    return TrainResult(run.cfg, run.seeds, run.teacher, run.student, ~run.alive,
                       run.train_loss, final_eval, run.rows, run.step,
                       time.perf_counter() - t0, str(run.eval_x.device), run.cfgs,
                       loop_seconds)
