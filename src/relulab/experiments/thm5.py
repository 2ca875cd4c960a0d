"""Luck Matters Theorems 4–5 as an experiment: the original ``test_multilayer.py --perturb
--node_multi 2 --lr 0.05 --init_std 0.1 --batchsize 64`` matrix-version network
(docs/conventions.md).

Two-layer teacher d → m → c (defaults 10 → 20 → 30, the script's ``ks``), student d → n = multi·m
→ c. Inputs x ~ N(0, I_d) with a ones column (the bias), fresh minibatch every step. Every
node's augmented fan-in row (weights and bias) is normalized to unit length at init and after
every step. The student starts at the teacher in the top-left block plus N(0, init_std²).
Update (``Thm5Config.update``), all computed on the minibatch:

- ``"matrix_orig"``: the matrix form as the original computes it, with the hidden layer's constant
  (bias) node dropped from H*, H (``H[:-1, :-1]``; :attr:`LayerTerms.predicted_orig`);
- ``"matrix"``: the consistent matrix form, constant node kept (:attr:`LayerTerms.predicted`);
- ``"exact"``: the true expected gradient E[g f̃ᵀ] of Theorem 1 (:attr:`LayerTerms.true_grad`).

Random streams (``Thm5Config.streams``): ``"independent"`` draws each run's student and minibatches
from ``generator``; ``"original"`` draws them as the original script does with ``--seed``: one
float32 ``torch.randn`` stream seeded with :attr:`Thm5Config.seed` for the student's perturbation
(shapes ``(d+1, n)`` then ``(n+1, c)``), restarted from the same seed for the data (one batch
drawn before the loop, a 1024-sample eval batch every 100 steps), shared by every run; only the
teachers differ between runs (the original draws its teacher before seeding).

Losses: :attr:`Thm5Result.loss` is ½·mean over the batch of Σ_outputs (y* − y)²;
:attr:`Thm5Result.loss_orig` is the original's printed ``loss``, ‖ReLU(Y*) − ReLU(Y)‖_F / B: the
Frobenius norm (not squared) of the batch's output errors over the batch size, with the ReLU
the original's forward applies to the output (its gradient treats the output as linear).

Theorem 5 predicts the fan-out weights of the n − m student nodes without a teacher go to zero
while the teacher-aligned ones converge; Theorem 4 that nodes starting closer to their teacher
converge faster ("luck").

The module constants and :class:`Thm5Config`'s fields are the defaults of ``relulab theory thm5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from scipy import stats
from torch import Tensor

from relulab.config import ConfigError
from relulab.nets.networks import Net, predict
from relulab.nets.teachers import distinct_rows
from relulab.theory.matrix_form import expectations
from relulab.theory.population import angle

WEIGHT_CHOICES = (-0.5, -0.25, 0.0, 0.25, 0.5)
UPDATES = ("matrix", "matrix_orig", "exact")
SEED = 232  # the original's --seed (root seed of STREAM)
STREAM = "theory-thm5"  # rng stream of teachers, students and minibatches
N_SEEDS = 1  # independent runs in one batch
LUCK_THRESHOLD = 0.05  # angle (rad) to its teacher below which a node counts as converged
STREAMS = ("independent", "original")
EVAL_SIZE = 1024  # the original's --eval_batchsize
EVAL_EVERY = 100  # the original draws (and evaluates) an eval batch every 100 steps


@dataclass(frozen=True)
class Thm5Config:
    input_dim: int = 10  # d (ks[0] of the original)
    teacher_hidden: int = 20  # m (ks[1])
    output_dim: int = 30  # c (ks[2])
    node_multi: int = 2  # student hidden n = node_multi · m
    lr: float = 0.05
    init_std: float = 0.1  # student = teacher block + N(0, init_std²)
    batch_size: int = 64
    iters: int = 20_000
    teacher_bias: float = 0.0  # the original's --bias: teacher bias column −bias, then normalized
    # "matrix": consistent matrix form; "matrix_orig": as the original (constant node dropped
    # from H); "exact": true expected gradient (module docstring)
    update: Literal["matrix", "matrix_orig", "exact"] = "matrix"
    record_every: int = 100
    # "independent": students and minibatches from the run's generator; "original": one
    # float32 torch stream seeded with ``seed``, shared by all runs (module docstring)
    streams: Literal["independent", "original"] = "independent"
    seed: int = SEED  # the original's --seed (streams="original" only)

    def __post_init__(self) -> None:
        for name in ("input_dim", "teacher_hidden", "output_dim", "node_multi", "batch_size",
                     "record_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.iters < 0:
            raise ConfigError(f"iters must be >= 0, got {self.iters}")
        if not self.lr > 0 or self.init_std < 0:
            raise ConfigError("lr must be > 0 and init_std >= 0")
        if self.update not in UPDATES:
            raise ConfigError(f"update must be matrix, matrix_orig or exact, got {self.update!r}")
        if self.streams not in STREAMS:
            raise ConfigError(f"streams must be independent or original, got {self.streams!r}")

    @property
    def student_hidden(self) -> int:
        return self.node_multi * self.teacher_hidden


@dataclass(frozen=True)
class Thm5Result:
    cfg: Thm5Config
    steps: Tensor  # (T,) recorded steps (0 = init)
    angles: Tensor  # (T, S, m) angle of student node j < m to teacher node j (augmented fan-in)
    fan_out: Tensor  # (T, S, n) L2 norm of each student hidden node's fan-out (over c outputs)
    loss: Tensor  # (T, S) minibatch loss ½ mean |y* − y|²
    loss_orig: Tensor  # (T, S) the original's ‖ReLU(Y*) − ReLU(Y)‖_F / B on the minibatch
    eval_loss_orig: Tensor  # (S,) the same on EVAL_SIZE fresh samples after the last step

    @property
    def relevant(self) -> Tensor:
        """Final fan-out norms of the teacher-aligned nodes ``(S, m)``."""
        return self.fan_out[-1, :, : self.cfg.teacher_hidden]

    @property
    def irrelevant(self) -> Tensor:
        """Final fan-out norms of the other nodes ``(S, n − m)``."""
        return self.fan_out[-1, :, self.cfg.teacher_hidden:]


def _normalize_rows(w: Tensor) -> Tensor:
    return w / w.norm(dim=-1, keepdim=True)


def _split(w: Tensor) -> tuple[Tensor, Tensor]:
    return w[..., :-1], w[..., -1]


def make_networks(cfg: Thm5Config, n_seeds: int, *, generator: torch.Generator,
                  dtype: torch.dtype = torch.float64) -> tuple[list[Tensor], list[Tensor]]:
    """Augmented ``(S, out, in+1)`` weights of the teachers and perturbed students."""
    choices = torch.tensor(WEIGHT_CHOICES, dtype=dtype)
    d, m, c, n = cfg.input_dim, cfg.teacher_hidden, cfg.output_dim, cfg.student_hidden
    teachers: list[list[Tensor]] = [[], []]
    for _ in range(n_seeds):
        for i, (out, inp) in enumerate(((m, d), (c, m))):
            w = distinct_rows(out, inp, choices, generator=generator).to(dtype)
            bias = torch.full((out, 1), -cfg.teacher_bias, dtype=dtype)
            teachers[i].append(_normalize_rows(torch.cat([w, bias], 1)))
    t1, t2 = torch.stack(teachers[0]), torch.stack(teachers[1])  # (S, m, d+1), (S, c, m+1)
    if cfg.streams == "original":  # one float32 stream, the original's (in+1, out) layout
        g = torch.Generator().manual_seed(cfg.seed)
        s1 = torch.randn(d + 1, n, generator=g).mT.to(dtype).expand(n_seeds, n, d + 1)
        s2 = torch.randn(n + 1, c, generator=g).mT.to(dtype).expand(n_seeds, c, n + 1)
        s1, s2 = s1 * cfg.init_std, s2 * cfg.init_std
    else:
        s1 = torch.randn(n_seeds, n, d + 1, generator=generator, dtype=dtype) * cfg.init_std
        s2 = torch.randn(n_seeds, c, n + 1, generator=generator, dtype=dtype) * cfg.init_std
    s1[:, :m] += t1  # perturb: student = teacher in the top-left block (+ bias)
    s2[:, :, :m] += t2[..., :m]
    s2[:, :, -1] += t2[..., -1]
    return [t1, t2], [_normalize_rows(s1), _normalize_rows(s2)]


def _net(ws: list[Tensor]) -> Net:
    (w1, b1), (w2, b2) = _split(ws[0]), _split(ws[1])
    return Net("fc", (w1, w2), (b1, b2))


def stream_dtype(cfg: Thm5Config) -> torch.dtype:
    """float32 with the original's streams (the original runs in float32), else float64."""
    return torch.float32 if cfg.streams == "original" else torch.float64


def _loss_orig(y_t: Tensor, y_s: Tensor) -> Tensor:
    """The original's ``(pred − pred_s).norm() / N`` per run ``(S,)`` from outputs
    ``(S, N, c)``: ReLU on the outputs, Frobenius norm over the batch, divided by N."""
    return (y_t.relu() - y_s.relu()).flatten(1).norm(dim=1) / y_t.shape[1]


class _Batches:
    """Minibatches ``(S, B, d)``: from the run's generator, or the original's shared float32
    stream (seeded with ``cfg.seed``; one batch drawn before the loop; an eval batch of
    :data:`EVAL_SIZE` drawn every :data:`EVAL_EVERY` steps)."""

    def __init__(self, cfg: Thm5Config, n_seeds: int, generator: torch.Generator,
                 dtype: torch.dtype, device: torch.device | str) -> None:
        self.cfg, self.s, self.dtype, self.device = cfg, n_seeds, dtype, device
        self.original = cfg.streams == "original"
        self.g = torch.Generator().manual_seed(cfg.seed) if self.original else generator
        if self.original:
            self.draw(cfg.batch_size)  # the original's X before its loop

    def draw(self, n: int) -> Tensor:
        d = self.cfg.input_dim
        if self.original:
            x = torch.randn(n, d, generator=self.g).to(self.dtype).expand(self.s, n, d)
        else:
            x = torch.randn(self.s, n, d, generator=self.g, dtype=self.dtype)
        return x.to(self.device)

    def after_step(self, step: int) -> None:
        if self.original and step % EVAL_EVERY == 0:
            self.draw(EVAL_SIZE)  # the original's periodic eval batch


def run_thm5(cfg: Thm5Config, *, n_seeds: int = N_SEEDS, generator: torch.Generator,
             device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float64) -> Thm5Result:
    """Train ``n_seeds`` students (one batch) and record angles, fan-out norms and losses."""
    if n_seeds < 1:
        raise ConfigError(f"n_seeds must be >= 1, got {n_seeds}")
    teacher_w, student_w = make_networks(cfg, n_seeds, generator=generator, dtype=dtype)
    teacher_w = [w.to(device) for w in teacher_w]
    student_w = [w.to(device) for w in student_w]
    teacher = _net(teacher_w)
    batches = _Batches(cfg, n_seeds, generator, dtype, device)
    m = cfg.teacher_hidden
    steps, angles, fan_out, losses, losses_orig = [], [], [], [], []
    for step in range(cfg.iters + 1):
        x = batches.draw(cfg.batch_size)
        student = _net(student_w)
        if step % cfg.record_every == 0 or step == cfg.iters:
            y_t, y_s = predict(teacher, x), predict(student, x)
            steps.append(step)
            angles.append(angle(student_w[0][:, :m], teacher_w[0]))
            fan_out.append(student_w[1][..., :-1].norm(dim=1))
            losses.append(0.5 * (y_t - y_s).pow(2).sum(-1).mean(-1))
            losses_orig.append(_loss_orig(y_t, y_s))
        if step == cfg.iters:
            break
        terms = expectations(teacher, student, x)
        for i, t in enumerate(terms):
            delta = {"matrix": t.predicted, "matrix_orig": t.predicted_orig,
                     "exact": t.true_grad}[cfg.update]
            student_w[i] = _normalize_rows(student_w[i] + cfg.lr * delta)
        batches.after_step(step)
    x_eval = batches.draw(EVAL_SIZE)
    eval_loss = _loss_orig(predict(teacher, x_eval), predict(_net(student_w), x_eval))
    return Thm5Result(cfg, torch.tensor(steps), torch.stack(angles), torch.stack(fan_out),
                      torch.stack(losses), torch.stack(losses_orig), eval_loss)


@dataclass(frozen=True)
class LuckRow:
    seed: int
    node: int  # teacher-aligned student node j (< m)
    initial_angle: float  # rad
    final_angle: float
    steps_to_threshold: int  # first recorded step with angle < threshold (-1: never)


def luck_table(result: Thm5Result, threshold: float) -> tuple[list[LuckRow], float]:
    """Theorem 4 "luck": per teacher-aligned node its initial angle and the first recorded step
    at which its angle to its teacher fell below ``threshold``; plus the Spearman correlation
    between the two over nodes that got there (positive: closer nodes converge sooner)."""
    a = result.angles.cpu()  # (T, S, m)
    below = a < threshold
    first = torch.where(below.any(0), result.steps[below.to(torch.int64).argmax(0)],
                        torch.full(a.shape[1:], -1, dtype=torch.int64))  # (S, m)
    rows = [LuckRow(s, j, float(a[0, s, j]), float(a[-1, s, j]), int(first[s, j]))
            for s in range(a.shape[1]) for j in range(a.shape[2])]
    reached = [r for r in rows if r.steps_to_threshold >= 0]
    if len({r.steps_to_threshold for r in reached}) < 2:  # rank correlation undefined
        return rows, float("nan")
    rho = stats.spearmanr([r.initial_angle for r in reached],
                          [r.steps_to_threshold for r in reached]).statistic
    return rows, float(rho)


@dataclass(frozen=True)
class LuckQuartile:
    angle_low: float  # rad, smallest initial angle in the quartile
    angle_high: float  # rad, largest
    nodes: int
    reached: int  # nodes whose angle fell below the threshold
    mean_steps: float | None  # mean steps to the threshold over those (None: none did)


def luck_quartiles(rows: list[LuckRow]) -> list[LuckQuartile]:
    """The :func:`luck_table` rows in four groups by initial angle (empty groups left out): does
    a smaller initial angle reach the threshold sooner?"""
    ordered = sorted(rows, key=lambda r: r.initial_angle)
    out = []
    for q in range(4):
        part = ordered[q * len(ordered) // 4:(q + 1) * len(ordered) // 4]
        if not part:
            continue
        hit = [r.steps_to_threshold for r in part if r.steps_to_threshold >= 0]
        out.append(LuckQuartile(part[0].initial_angle, part[-1].initial_angle, len(part),
                                len(hit), sum(hit) / len(hit) if hit else None))
    return out
