"""Training engine: S seeds (or compatible configs) trained as one tensor program.

Every step: draw a batch per seed, forward teacher and student, per-seed MSE, backward, update.
A seed whose loss becomes NaN/inf is marked diverged and frozen (its parameters keep their last
finite values); the other seeds are unaffected because every tensor op is per seed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from relulab import fused
from relulab.config import ConfigError, OptimConfig, RunConfig, group_key
from relulab.data import DataSource, SyntheticSource
from relulab.networks import Net, concat, forward, predict
from relulab.rng import SHARED_SEED, generator
from relulab.students import make_students
from relulab.teachers import make_teachers


def input_shape(cfg: RunConfig) -> tuple[int, ...]:
    t = cfg.teacher
    return (1, t.image_size, t.image_size) if t.kind == "conv" else (t.input_dim,)


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


Callback = Callable[[StatsContext], None]


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


def mse_per_seed(out: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over samples and outputs: ``(S, N, c) -> (S,)``."""
    return (out - target).pow(2).mean(dim=(1, 2))


def loss_scale(cfg: RunConfig) -> float:
    """The training objective over the MSE: 1 for ``loss=mse`` (torch ``MSELoss``), c/2 for
    ``loss=half_sum`` ((1/B) Σ_batch ½ Σ_outputs (y* − y)², the two-layer original's update
    ``W ← W + lr·(1/B)·hᵀ(y* − y)``)."""
    return cfg.teacher.output_dim / 2.0 if cfg.optim.loss == "half_sum" else 1.0


def loss_and_grads(student: Net, x: Tensor, y: Tensor, *, train: bool = True,
                   scale: float = 1.0) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Per-seed MSE ``(S,)`` of ``student`` on ``(x, y)`` and the gradients of ``scale`` x MSE
    (the objective, see :func:`loss_scale`) with respect to ``student.parameters()`` (weights
    then biases, leading S axis). The seeds' losses are independent, so the gradient of their
    sum is each seed's own gradient."""
    if not all(p.requires_grad for p in student.parameters()):
        ps = [p.detach().requires_grad_(True) for p in student.parameters()]
        student = dataclasses.replace(student, weights=tuple(ps[:len(student.weights)]),
                                      biases=tuple(ps[len(student.weights):]))
    params = student.parameters()
    with torch.enable_grad():
        loss = mse_per_seed(forward(student, x, train=train).output, y)
        return loss.detach(), torch.autograd.grad(loss.sum() * scale, params)


class BatchedOptimizer:
    """SGD (momentum, weight decay, as ``torch.optim.SGD``) and Adam on stacked parameters,
    with an ``alive (S,)`` mask: frozen seeds are not updated."""

    def __init__(self, cfg: OptimConfig, params: list[Tensor]):
        self.cfg = cfg
        self.params = params
        self.state: list[dict[str, Tensor]] = [{} for _ in params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor], lr: float | Tensor, alive: Tensor) -> None:
        """One update; ``lr`` is a float or a per-member tensor ``(S,)``."""
        cfg = self.cfg
        self.t += 1
        for p, g, st in zip(self.params, grads, self.state, strict=True):
            view = (-1,) + (1,) * (p.dim() - 1)
            mask = alive.reshape(view)
            g = torch.where(mask, g, 0.0)
            if cfg.weight_decay:
                g = g.add(p, alpha=cfg.weight_decay)
            if cfg.name == "adam":
                b1, b2 = cfg.betas
                m = st.setdefault("m", torch.zeros_like(p))
                v = st.setdefault("v", torch.zeros_like(p))
                m.copy_(torch.where(mask, m * b1 + (1 - b1) * g, m))
                v.copy_(torch.where(mask, v * b2 + (1 - b2) * g * g, v))
                upd = (m / (1 - b1 ** self.t)) / ((v / (1 - b2 ** self.t)).sqrt() + 1e-8)
                upd = torch.where(mask, upd, 0.0)
            elif cfg.momentum:
                buf = st.get("buf")
                if buf is None:
                    buf = st["buf"] = g.clone()
                else:
                    buf.copy_(torch.where(mask, buf * cfg.momentum + g, buf))
                upd = torch.where(mask, buf, 0.0)
            else:
                upd = g
            if isinstance(lr, Tensor):
                p.addcmul_(upd, lr.reshape(view), value=-1.0)
            else:
                p.sub_(upd, alpha=lr)


def _runs(cfgs: Sequence[RunConfig]) -> list[tuple[int, int]]:
    """Consecutive runs [start, stop) of identical configs."""
    out, start = [], 0
    for i in range(1, len(cfgs) + 1):
        if i == len(cfgs) or cfgs[i] != cfgs[start]:
            out.append((start, i))
            start = i
    return out


def build_group(cfgs: Sequence[RunConfig], seeds: Sequence[int], *,
                device: torch.device | str = "cpu", source: DataSource | None = None
                ) -> tuple[Net, Net, DataSource]:
    """Teachers, students and data for members ``(cfgs[i], seeds[i])``, each drawn from its
    own generators; equal-config runs are drawn together."""
    cfgs, seeds = list(cfgs), list(seeds)
    if len(cfgs) != len(seeds) or not seeds:
        raise ConfigError("need one config per seed and at least one seed")
    keys = {group_key(c) for c in cfgs}
    if len(keys) != 1:
        raise ConfigError("configs in one batched run must have equal shapes and schedules")
    dtype = getattr(torch, cfgs[0].dtype)
    data_seeds = [SHARED_SEED if c.shared_teacher else s for c, s in zip(cfgs, seeds, strict=True)]
    src = source or SyntheticSource([c.data for c in cfgs], input_shape(cfgs[0]), seeds,
                                    [c.root_seed for c in cfgs], device, dtype, data_seeds)
    needs_tuning = any(c.teacher.bias_tuning or c.teacher.standardize_output for c in cfgs)
    tuning = src.eval_inputs() if needs_tuning else None
    teachers, students = [], []
    for a, b in _runs(cfgs):
        c = cfgs[a]
        teachers.append(make_teachers(
            c.teacher, [generator(c.root_seed, s, "teacher") for s in data_seeds[a:b]],
            tuning_inputs=None if tuning is None else tuning[a:b], dtype=dtype, device=device))
        students.append(make_students(
            c, [generator(c.root_seed, s, "student") for s in seeds[a:b]], dtype=dtype,
            device=device))
    return concat(teachers), concat(students), src


def build(cfg: RunConfig, seeds: Sequence[int], *, device: torch.device | str = "cpu",
          source: DataSource | None = None) -> tuple[Net, Net, DataSource]:
    """Teachers, students and data source for ``seeds`` of one config."""
    return build_group([cfg] * len(list(seeds)), list(seeds), device=device, source=source)


@torch.no_grad()
def _predict_chunked(net: Net, x: Tensor, chunk: int = 8192) -> Tensor:
    return torch.cat([predict(net, x[:, i:i + chunk]) for i in range(0, x.shape[1], chunk)], 1)


def train(cfg: RunConfig, seeds: Sequence[int], **kwargs: Any) -> TrainResult:
    """Train one student per seed against that seed's teacher, all seeds in one program.

    Keyword arguments as :func:`train_group`.
    """
    seeds = list(seeds)
    return train_group([cfg] * len(seeds), seeds, **kwargs)


def train_group(cfgs: Sequence[RunConfig], seeds: Sequence[int], *,
                device: torch.device | str = "cpu", callbacks: Sequence[Callback] = (),
                progress: bool = False, max_steps: int | None = None,
                source: DataSource | None = None, nets: tuple[Net, Net] | None = None
                ) -> TrainResult:
    """Train members ``(cfgs[i], seeds[i])`` (equal :func:`group_key`) as one tensor program.

    ``max_steps`` stops early (overrides epochs). ``nets=(teacher, student)`` starts from given
    networks instead of drawing them. Callbacks run at init, every ``stats_every`` epochs and
    at the end. Member i's result does not depend on the other members.
    """
    cfgs, seeds = list(cfgs), list(seeds)
    cfg = cfgs[0]
    t0 = time.perf_counter()
    teacher, student, src = build_group(cfgs, seeds, device=device, source=source)
    if nets is not None:
        teacher, student = nets
    eval_x = src.eval_inputs()
    dev = eval_x.device
    eval_y = _predict_chunked(teacher, eval_x)
    train_x = src.train_inputs()
    train_y = _predict_chunked(teacher, train_x) if train_x is not None else None
    stream = src.stream(cfg.batch_size, train_x, train_y)
    spe = cfg.steps_per_epoch
    total = cfg.optim.epochs * spe if max_steps is None else max_steps
    epochs = math.ceil(total / spe) if spe else 0

    opt = BatchedOptimizer(cfg.optim, student.parameters())
    scale = loss_scale(cfg)
    fast = fused.supports(student, cfg.optim.name, cfg.optim.momentum, cfg.optim.weight_decay)
    s = len(seeds)
    alive = torch.ones(s, dtype=torch.bool, device=dev)
    all_alive = True
    rows: list[dict] = []
    last_batch: tuple[Tensor, Tensor] | None = None
    epoch_loss = torch.full((s,), float("nan"), device=dev)
    ev: Tensor | None = None  # eval loss after the last epoch (parameters unchanged since)

    def stats(epoch: int, step: int, final: bool = False) -> None:
        if not callbacks:
            return
        grads = None  # gradient of the last batch at the current parameters
        if last_batch is not None:
            grads = loss_and_grads(student, *last_batch, train=False, scale=scale)[1]
        ctx = StatsContext(cfg, seeds, epoch, step, teacher, student, eval_x, ~alive, grads,
                           final, cfgs)
        for cb in callbacks:
            cb(ctx)

    def eval_loss() -> Tensor:
        with torch.no_grad():
            return mse_per_seed(_predict_chunked(student, eval_x), eval_y)

    stats(0, 0)
    t_loop = time.perf_counter()
    bar = tqdm(total=total, disable=not progress, unit="step", desc=f"train S={s}",
               mininterval=0.5)
    step = 0
    for epoch in range(epochs):
        lrs = [c.optim.lr_at(epoch) for c in cfgs]
        lr: float | Tensor = (lrs[0] if len(set(lrs)) == 1
                              else torch.tensor(lrs, device=dev, dtype=eval_x.dtype))
        loss_sum = torch.zeros(s, device=dev, dtype=eval_x.dtype)
        n_steps = min(spe, total - step)
        for _ in range(n_steps):
            xb, yb = stream.next()
            if yb is None:
                yb = _predict_chunked(teacher, xb)
            loss = fused.sgd_step(student, xb, yb, lr, scale) if fast and all_alive else None
            if loss is None:  # general path: autograd, masked optimizer
                loss, g = loss_and_grads(student, xb, yb, scale=scale)  # (S,), per-seed
                alive &= torch.isfinite(loss)
                all_alive = bool(alive.all())
                opt.step(g, lr, alive)
                loss = torch.where(alive, loss, 0.0)
            loss_sum += loss
            step += 1
            last_batch = (xb, yb)
        bar.update(n_steps)
        epoch_loss = torch.where(alive, loss_sum / max(n_steps, 1), float("nan"))
        ev = torch.where(alive, eval_loss(), float("nan"))
        per_seed = zip(seeds, epoch_loss.tolist(), ev.tolist(), (~alive).tolist(), strict=True)
        for i, (seed, train_l, eval_l, dead) in enumerate(per_seed):
            rows.append({"seed": seed, "member": i, "epoch": epoch + 1, "step": step, "lr": lrs[i],
                         "train_loss": train_l, "eval_loss": eval_l, "diverged": dead})
        bar.set_postfix(loss=f"{float(epoch_loss.nanmean()):.3g}")
        last = step >= total
        if last or (cfg.stats_every and (epoch + 1) % cfg.stats_every == 0):
            stats(epoch + 1, step, final=last)
        if last:
            break
    bar.close()
    loop_seconds = time.perf_counter() - t_loop
    if total == 0:
        stats(0, 0, final=True)
    final_eval = ev if ev is not None else torch.where(alive, eval_loss(), float("nan"))
    return TrainResult(cfg, seeds, teacher, student, ~alive, epoch_loss, final_eval, rows,
                       step, time.perf_counter() - t0, str(dev), cfgs, loop_seconds)
