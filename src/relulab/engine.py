"""Training engine: S seeds (or compatible configs) trained as one tensor program.

Every step: draw a batch per seed, forward teacher and student, per-seed MSE, backward, update.
A seed whose loss becomes NaN/inf is marked diverged and frozen (its parameters keep their last
finite values); the other seeds are unaffected because every tensor op is per seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from relulab.config import OptimConfig, RunConfig
from relulab.data import DataSource, SyntheticSource
from relulab.networks import Net, forward, predict
from relulab.rng import generator
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
    scalars: list[dict] = field(default_factory=list)  # one row per (seed, epoch)
    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"


def mse_per_seed(out: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over samples and outputs: ``(S, N, c) -> (S,)``."""
    return (out - target).pow(2).mean(dim=(1, 2))


class BatchedOptimizer:
    """SGD (momentum, weight decay, as ``torch.optim.SGD``) and Adam on stacked parameters,
    with an ``alive (S,)`` mask: frozen seeds are not updated."""

    def __init__(self, cfg: OptimConfig, params: list[Tensor]):
        self.cfg = cfg
        self.params = params
        self.state: list[dict[str, Tensor]] = [{} for _ in params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor], lr: float, alive: Tensor) -> None:
        cfg = self.cfg
        self.t += 1
        for p, g, st in zip(self.params, grads, self.state, strict=True):
            mask = alive.reshape((-1,) + (1,) * (p.dim() - 1))
            g = torch.where(mask, g, 0.0)
            if cfg.weight_decay:
                g = g.add(p, alpha=cfg.weight_decay)
            if cfg.name == "adam":
                b1, b2 = cfg.betas
                m = st.setdefault("m", torch.zeros_like(p))
                v = st.setdefault("v", torch.zeros_like(p))
                m.copy_(torch.where(mask, m * b1 + (1 - b1) * g, m))
                v.copy_(torch.where(mask, v * b2 + (1 - b2) * g * g, v))
                m_hat = m / (1 - b1 ** self.t)
                v_hat = v / (1 - b2 ** self.t)
                upd = m_hat / (v_hat.sqrt() + 1e-8)
                p.sub_(torch.where(mask, upd, 0.0), alpha=lr)
            elif cfg.momentum:
                buf = st.get("buf")
                if buf is None:
                    buf = st["buf"] = g.clone()
                else:
                    buf.copy_(torch.where(mask, buf * cfg.momentum + g, buf))
                p.sub_(torch.where(mask, buf, 0.0), alpha=lr)
            else:
                p.sub_(g, alpha=lr)


def build(cfg: RunConfig, seeds: Sequence[int], *, device: torch.device | str = "cpu",
          source: DataSource | None = None) -> tuple[Net, Net, DataSource]:
    """Teachers, students and data source for ``seeds`` (each from its own generators)."""
    seeds = list(seeds)
    src = source or SyntheticSource(cfg.data, input_shape(cfg), seeds, cfg.root_seed, device)
    tuning = src.eval_inputs() if (cfg.teacher.bias_tuning or
                                   cfg.teacher.standardize_output) else None
    teacher = make_teachers(cfg.teacher, [generator(cfg.root_seed, s, "teacher") for s in seeds],
                            tuning_inputs=tuning, device=device)
    student = make_students(cfg, [generator(cfg.root_seed, s, "student") for s in seeds],
                            device=device)
    return teacher, student, src


@torch.no_grad()
def _predict_chunked(net: Net, x: Tensor, chunk: int = 8192) -> Tensor:
    return torch.cat([predict(net, x[:, i:i + chunk]) for i in range(0, x.shape[1], chunk)], 1)


def train(cfg: RunConfig, seeds: Sequence[int], *, device: torch.device | str = "cpu",
          callbacks: Sequence[Callback] = (), progress: bool = False,
          max_steps: int | None = None, source: DataSource | None = None,
          nets: tuple[Net, Net] | None = None) -> TrainResult:
    """Train one student per seed against that seed's teacher, all seeds in one program.

    ``max_steps`` stops early (overrides ``cfg.optim.epochs``). ``nets=(teacher, student)``
    starts from given networks instead of drawing them. Callbacks run at init, every
    ``cfg.stats_every`` epochs and at the end.
    """
    seeds = list(seeds)
    t0 = time.perf_counter()
    teacher, student, src = build(cfg, seeds, device=device, source=source)
    if nets is not None:
        teacher, student = nets
    eval_x = src.eval_inputs()
    eval_y = _predict_chunked(teacher, eval_x)
    train_x = src.train_inputs()
    train_y = _predict_chunked(teacher, train_x) if train_x is not None else None
    bs = cfg.batch_size
    stream = (src.stream(bs, train_x) if isinstance(src, SyntheticSource)  # type: ignore[call-arg]
              else src.stream(bs))
    spe = cfg.steps_per_epoch
    total = cfg.optim.epochs * spe if max_steps is None else max_steps
    epochs = math.ceil(total / spe) if spe else 0

    params = [p.requires_grad_(True) for p in student.parameters()]
    opt = BatchedOptimizer(cfg.optim, params)
    s = len(seeds)
    alive = torch.ones(s, dtype=torch.bool, device=eval_x.device)
    rows: list[dict] = []
    grads: tuple[Tensor, ...] | None = None
    epoch_loss = torch.full((s,), float("nan"), device=eval_x.device)

    def stats(epoch: int, step: int, final: bool = False) -> None:
        ctx = StatsContext(cfg, seeds, epoch, step, teacher, student, eval_x, ~alive, grads,
                           final)
        for cb in callbacks:
            cb(ctx)

    def eval_loss() -> Tensor:
        with torch.no_grad():
            return mse_per_seed(_predict_chunked(student, eval_x), eval_y)

    stats(0, 0)
    bar = tqdm(total=total, disable=not progress, unit="step", desc=f"train S={s}",
               mininterval=0.5)
    step = 0
    for epoch in range(epochs):
        lr = cfg.optim.lr_at(epoch)
        loss_sum = torch.zeros(s, device=eval_x.device)
        n_steps = min(spe, total - step)
        for _ in range(n_steps):
            xb, idx = stream.next()
            with torch.no_grad():
                yb = (train_y[torch.arange(s, device=idx.device)[:, None], idx]
                      if idx is not None and train_y is not None else predict(teacher, xb))
            out = forward(student, xb, train=True).output
            loss = mse_per_seed(out, yb)  # (S,)
            g = torch.autograd.grad(loss.sum(), params)
            alive &= torch.isfinite(loss)
            opt.step(g, lr, alive)
            loss_sum += torch.where(alive, loss.detach(), 0.0)
            step += 1
            grads = g
        bar.update(n_steps)
        epoch_loss = torch.where(alive, loss_sum / max(n_steps, 1), float("nan"))
        ev = torch.where(alive, eval_loss(), float("nan"))
        for i, seed in enumerate(seeds):
            rows.append({"seed": seed, "epoch": epoch + 1, "step": step, "lr": lr,
                         "train_loss": float(epoch_loss[i]), "eval_loss": float(ev[i]),
                         "diverged": bool(~alive[i])})
        bar.set_postfix(loss=f"{float(epoch_loss.nanmean()):.3g}")
        last = step >= total
        if last or (cfg.stats_every and (epoch + 1) % cfg.stats_every == 0):
            stats(epoch + 1, step, final=last)
        if last:
            break
    bar.close()
    if total == 0:
        stats(0, 0, final=True)
    for p in params:
        p.requires_grad_(False)
    final_eval = torch.where(alive, eval_loss(), float("nan"))
    return TrainResult(cfg, seeds, teacher, student, ~alive, epoch_loss, final_eval, rows,
                       step, time.perf_counter() - t0, str(eval_x.device))
