"""Luck Matters' matrix form along a training run (docs/theory.md): at init and after every
epoch of a deep fc student trained by the engine, the matrix-form prediction of the update
``H*W̃*L*ᵀ − HW̃Lᵀ`` (:func:`relulab.theory.matrix_form.expectations`, the consistent form) is
compared with the actual expected gradient ``E[g_l f̃_{l−1}ᵀ]`` (Theorem 1 on the same samples,
equal to −autograd of ½·Σ_outputs (y* − y)², mean over samples) per weight layer.

The relative error ``‖pred − true‖_F / ‖true‖_F`` is 0 at the linear output layer (round-off)
and measures the decoupling E[f f' β f'] ≈ E[f f]·E[f' f']·E[β] below it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from relulab.config import ConfigError, RunConfig
from relulab.config.presets import get_preset
from relulab.theory.matrix_form import expectations
from relulab.training.engine import StatsContext, train


@dataclass(frozen=True)
class TrackConfig:
    """Defaults of ``relulab theory overlay`` (deep part)."""

    preset: str = "luck-fc-readme"  # teacher 10-15-20-25, d = 20, c = 100, σ = 10, lr 0.05
    multi: int = 2  # student width / teacher width (the paper: 10)
    epochs: int = 8
    steps_per_epoch: int = 100  # batch 64
    train_size: int = 20_000  # finite training set, shuffled passes
    samples: int = 1024  # eval samples the expectations are taken over
    seeds: int = 4

    def __post_init__(self) -> None:
        get_preset(self.preset)  # ConfigError for an unknown preset
        values = {"multi": self.multi, "epochs": self.epochs, "seeds": self.seeds,
                  "steps_per_epoch": self.steps_per_epoch, "train_size": self.train_size}
        for name, value in values.items():
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.samples < 2:
            raise ConfigError(f"samples must be >= 2, got {self.samples}")
        if get_preset(self.preset).teacher.kind != "fc":
            raise ConfigError(f"preset '{self.preset}': the matrix form needs an fc teacher")


@dataclass(frozen=True)
class TrackRow:
    epoch: int  # epochs completed (0 = init)
    layer: int  # weight layer, 1 = input to first hidden; the last one is the output layer
    errors: tuple[float, ...]  # relative error per seed


def run_config(cfg: TrackConfig) -> RunConfig:
    """The preset with the tracker's size overrides."""
    base = get_preset(cfg.preset)
    return replace(base, student=replace(base.student, multi=cfg.multi),
                   data=replace(base.data, train_size=cfg.train_size, eval_size=cfg.samples),
                   optim=replace(base.optim, epochs=cfg.epochs,
                                 steps_per_epoch=cfg.steps_per_epoch),
                   stats_every=1)


class MatrixFormTracker:
    """Engine callback: per record, the matrix-form relative error of every weight layer
    (float64 copies of the nets, the member's eval inputs)."""

    def __init__(self) -> None:
        self.rows: list[TrackRow] = []

    def __call__(self, ctx: StatsContext) -> None:
        if ctx.final and self.rows and self.rows[-1].epoch == ctx.epoch:
            return  # the engine records the last epoch once more as final
        f64 = torch.float64
        terms = expectations(ctx.teacher.to(ctx.eval_x.device, f64),
                             ctx.student.to(ctx.eval_x.device, f64), ctx.eval_x.to(f64))
        for layer, t in enumerate(terms, start=1):
            self.rows.append(TrackRow(ctx.epoch, layer, tuple(t.relative_error.tolist())))


def track(cfg: TrackConfig, *, device: torch.device | str = "cpu") -> list[TrackRow]:
    """Train ``cfg.seeds`` students (seeds 0..S−1) and track the matrix-form error."""
    tracker = MatrixFormTracker()
    train(run_config(cfg), range(cfg.seeds), device=device, callbacks=[tracker])
    return tracker.rows


def error_table(rows: list[TrackRow]) -> dict[int, list[tuple[int, float, float]]]:
    """Per layer: ``(epoch, median over seeds, max over seeds)`` in epoch order."""
    out: dict[int, list[tuple[int, float, float]]] = {}
    for r in sorted(rows, key=lambda r: (r.layer, r.epoch)):
        errors = torch.tensor(r.errors)
        out.setdefault(r.layer, []).append((r.epoch, float(errors.median()),
                                            float(errors.max())))
    return out
