"""Tian 2017 theory against simulation: SGD with fresh samples vs the population gradient flow
from the SAME initial weights (docs/theory.md).

Network ``g(x; W) = Σ_j σ(w_jᵀx)`` (output weights fixed to 1, no bias), ``x ~ N(0, I_d)``,
loss ``J(W) = ½ E_x[(g(x; W) − g(x; W*))²]``. SGD takes ``W ← W − η ĝ`` with ĝ the gradient of
``½ · mean over a fresh batch of (g − g*)²`` (an unbiased estimate of ∂J/∂W), computed by the
engine's objective (:func:`relulab.training.optim.loss_and_grads` on a batched
:class:`~relulab.nets.networks.Net`, seeds on the leading axis). The engine's train loop trains
every layer; the Tian network keeps its top layer at 1, so this loop updates only the hidden
weights. After ``k`` steps SGD is compared with the flow Ẇ = −∂J/∂W
(:func:`relulab.theory.population.flow`, RK45) at time ``t = η k``. Over a fixed time the SGD
noise moves W by O(√(η t / B)) and the Euler discretization by O(η), so the maximum deviation
should shrink like √η as η → 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from relulab.config import ConfigError
from relulab.nets.networks import Net, predict
from relulab.rng import generator
from relulab.theory.population import angles_to_teacher, flow, loss
from relulab.training.optim import loss_and_grads

STREAM = "theory-overlay"  # rng stream: teachers, initial students, the SGD samples


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


@dataclass(frozen=True)
class OverlayConfig:
    """Defaults of ``relulab theory overlay`` (two-layer part)."""

    d: int = 10  # input dimension
    teachers: int = 4  # M teacher nodes, rows ~ N(0, I/d)
    students: tuple[int, ...] = (4, 8)  # K per variant: K = M, then over-realized
    lrs: tuple[float, ...] = (0.04, 0.01, 0.0025)  # SGD step sizes η, largest first
    batch: int = 16  # fresh Gaussian samples per step
    t_max: float = 8.0  # flow time (= η × steps)
    records: int = 41  # record points on [0, t_max]
    seeds: int = 16  # S: teacher and initial student per seed
    init_std: float = 1.0  # student rows ~ N(0, init_std² I/d)

    def __post_init__(self) -> None:
        ints = {"d": self.d, "teachers": self.teachers, "batch": self.batch,
                "seeds": self.seeds}
        for name, value in ints.items():
            _check(value >= 1, f"{name} must be >= 1, got {value}")
        _check(self.records >= 2, f"records must be >= 2, got {self.records}")
        _check(bool(self.students) and min(self.students) >= 1, "students must be >= 1")
        _check(bool(self.lrs), "need at least one learning rate")
        numbers = {"t_max": self.t_max, "init_std": self.init_std,
                   **{f"lr {i + 1}": lr for i, lr in enumerate(self.lrs)}}
        for name, value in numbers.items():
            _check(math.isfinite(value) and value > 0, f"{name} must be > 0, got {value}")
        spacing = self.t_max / (self.records - 1)
        for lr in self.lrs:
            every = round(spacing / lr)
            _check(every >= 1 and abs(every * lr - spacing) <= 1e-9 * spacing,
                   f"lr {lr:g} must divide the record spacing t_max / (records - 1) = "
                   f"{spacing:g}")

    def record_every(self, lr: float) -> int:
        """SGD steps between records at learning rate ``lr``."""
        return round(self.t_max / (self.records - 1) / lr)


@dataclass(frozen=True)
class Variant:
    """One student width K: the flow and the SGD runs of every learning rate."""

    students: int  # K
    times: Tensor  # (T,)
    ode_loss: Tensor  # (T, S) J along the flow
    ode_angles: Tensor  # (T, S, K) angle of each student to its matched teacher
    sgd_loss: dict[float, Tensor]  # lr -> (T, S) J at the SGD weights
    sgd_angles: dict[float, Tensor]  # lr -> (T, S, K)
    weight_dev: dict[float, Tensor]  # lr -> (T, S) ‖W_sgd − W_ode‖_F / ‖W_ode‖_F


@dataclass(frozen=True)
class DeviationRow:
    students: int
    lr: float
    steps: int
    loss_median: float  # median over seeds of max_t |J_sgd − J_ode|
    loss_worst: float  # max over seeds
    weight_median: float  # median over seeds of max_t relative ‖ΔW‖
    weight_worst: float
    angle_median: float  # median over seeds of max_t max_j |Δθ_j| (rad)


def draw_problem(cfg: OverlayConfig, students: int, *, root_seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Teachers ``W* (S, M, d)`` and initial students ``W0 (S, K, d)``, per seed from
    ``generator(root_seed, seed, STREAM + "-K")``."""
    rows_star, rows0 = [], []
    for seed in range(cfg.seeds):
        g = generator(root_seed, seed, f"{STREAM}-{students}")
        rows_star.append(torch.randn(cfg.teachers, cfg.d, generator=g, dtype=dtype))
        rows0.append(torch.randn(students, cfg.d, generator=g, dtype=dtype) * cfg.init_std)
    scale = cfg.d ** -0.5
    return torch.stack(rows_star) * scale, torch.stack(rows0) * scale


def tian_net(W: Tensor) -> Net:
    """The Tian 2017 network as a batched :class:`Net`: hidden ``W (S, K, d)``, top row of ones,
    zero biases."""
    s, k = W.shape[:2]
    zeros = W.new_zeros
    return Net("fc", (W, W.new_ones(s, 1, k)), (zeros(s, k), zeros(s, 1)))


def sgd_gradient(W: Tensor, W_star: Tensor, x: Tensor) -> Tensor:
    """Stochastic gradient of J on the batch ``x (S, B, d)``: ∂/∂W of ½·mean_B (g − g*)²,
    ``(S, K, d)`` (the engine's objective with scale ½; c = 1 output)."""
    with torch.no_grad():
        y = predict(tian_net(W_star), x)  # (S, B, 1) teacher outputs
    return loss_and_grads(tian_net(W), x, y, scale=0.5)[1][0]


def run_sgd(W0: Tensor, W_star: Tensor, *, lr: float, steps: int, record_every: int,
            batch: int, generator: torch.Generator) -> Tensor:
    """SGD with fresh samples from every ``W0 (S, K, d)``; the weights every ``record_every``
    steps, ``(steps // record_every + 1, S, K, d)``."""
    W = W0.clone()
    out = [W.clone()]
    for step in range(1, steps + 1):
        x = torch.randn(W.shape[0], batch, W.shape[-1], generator=generator, dtype=W.dtype)
        W = W - lr * sgd_gradient(W, W_star, x)
        if step % record_every == 0:
            out.append(W.clone())
    return torch.stack(out)


def _matched_angles(W: Tensor, W_star: Tensor, match: Tensor) -> Tensor:
    """Angle of each student to its matched teacher: ``W (T, S, K, d)`` -> ``(T, S, K)``."""
    theta = angles_to_teacher(W, W_star)  # (T, S, K, M)
    return theta.gather(-1, match.expand(*theta.shape[:-1])[..., None]).squeeze(-1)


def run_variant(cfg: OverlayConfig, students: int, *, root_seed: int = 0) -> Variant:
    """The flow and SGD at every learning rate for K = ``students``, from shared inits."""
    W_star, W0 = draw_problem(cfg, students, root_seed=root_seed)
    times = torch.linspace(0.0, cfg.t_max, cfg.records, dtype=W0.dtype)
    ode = flow(W0, W_star, times)
    match = ode.angles[-1].argmin(-1)  # (S, K): each student's teacher at the end of the flow
    sgd_loss, sgd_angles, weight_dev = {}, {}, {}
    for i, lr in enumerate(cfg.lrs):
        record_every = cfg.record_every(lr)
        # one stream per (K, lr) for all seeds: a seed's samples depend on S (cheap per step)
        g = generator(root_seed, i, f"{STREAM}-{students}-sgd")
        Ws = run_sgd(W0, W_star, lr=lr, steps=record_every * (cfg.records - 1),
                     record_every=record_every, batch=cfg.batch, generator=g)
        sgd_loss[lr] = loss(Ws, W_star)
        sgd_angles[lr] = _matched_angles(Ws, W_star, match)
        weight_dev[lr] = ((Ws - ode.weights).flatten(2).norm(dim=-1)
                          / ode.weights.flatten(2).norm(dim=-1))
    return Variant(students, times, ode.loss, _matched_angles(ode.weights, W_star, match),
                   sgd_loss, sgd_angles, weight_dev)


def deviation_rows(variant: Variant, t_max: float) -> list[DeviationRow]:
    """Per learning rate: the maximum over time of each deviation, summarized over seeds."""
    rows = []
    for lr in variant.sgd_loss:
        dj = (variant.sgd_loss[lr] - variant.ode_loss).abs().amax(0)  # (S,)
        dw = variant.weight_dev[lr].amax(0)
        da = (variant.sgd_angles[lr] - variant.ode_angles).abs().amax((0, 2))
        rows.append(DeviationRow(variant.students, lr, round(t_max / lr), float(dj.median()),
                                 float(dj.max()), float(dw.median()), float(dw.max()),
                                 float(da.median())))
    return rows


def overlay(cfg: OverlayConfig, *, root_seed: int = 0) -> tuple[list[Variant], list[DeviationRow]]:
    """Every variant of ``cfg`` and the deviation table (float64, CPU)."""
    variants = [run_variant(cfg, k, root_seed=root_seed) for k in cfg.students]
    return variants, [r for v in variants for r in deviation_rows(v, cfg.t_max)]
