"""The statistics the original code records beside the eval correlations, as extra
columns of :class:`relulab.training.recorder.StatsRecorder`'s rows, per (seed, hidden layer):

======================== ======================================================================
teacher_best_train_corr  (m_l,) best student correlation of each teacher node on the TRAINING
                         set (``stats.train_samples`` of it; None when off or fresh samples)
student_best_train_corr  (n_l,) each student node's max train correlation (the L-shape's x)
students_050 ... _095    (m_l,) per teacher node, the number of students with eval correlation
                         above 0.5, 0.6, 0.7, 0.8, 0.9, 0.95 (the original's counts)
student_beta             (n_l,) sqrt(diag E[β_kk]) on ``stats.h_samples`` eval samples (the
                         multilayer L-shape's y; ``stats.h``, fc students; else None)
student_h_diag           (n_l,) diag H = E[f'_k²] E[β_kk] (``stats.h``; else None)
grad_norm                mean over the last epoch's steps of the layer's weight-gradient norm
grad_norm_bias           the same for its bias (both NaN at init or with stats.epoch_grad off)
======================== ======================================================================

(``grad_norm_last_batch``, the gradient on the last batch at the current parameters, is the
recorder's own column.)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from relulab.metrics import LayerCorrelator, beta_diag, student_best_corr, students_above
from relulab.metrics.float32 import Float32Correlator, correlator
from relulab.results.schema import STUDENT_THRESHOLDS, threshold_column
from relulab.training.engine import StatsContext


class TrainCorrelations:
    """Per hidden layer, the ``(S, n_l, m_l)`` correlations on the run's training set (its
    first ``stats.train_samples``), or None when there is none or they are off. The teacher's
    activations are kept across calls of one run. ``precision="float32"`` uses the bounded
    float32 path for fc nets without BN, as the eval correlations
    (:mod:`relulab.training.recorder`)."""

    def __init__(self, precision: str = "float32") -> None:
        self.precision = precision
        self._corr: LayerCorrelator | Float32Correlator | None = None
        self._x: Tensor | None = None

    def __call__(self, ctx: StatsContext) -> tuple[Tensor, ...] | None:
        limit = ctx.cfg.stats.train_samples
        if ctx.train_x is None or limit == 0:
            return None
        stale = self._corr is None or self._corr.teacher is not ctx.teacher
        if stale or self._x is not ctx.train_x:
            x = ctx.train_x if limit is None else ctx.train_x[:, :limit]
            self._corr = correlator(ctx.teacher, ctx.student, x, self.precision)
            self._x = ctx.train_x
        return tuple(c.cpu() for c in self._corr(ctx.student))


def _grad_columns(ctx: StatsContext, num_seeds: int) -> list[dict[str, list[float]]]:
    """Per hidden layer: epoch-mean weight and bias gradient norms, per seed."""
    depth, nan = ctx.student.depth, [math.nan] * num_seeds
    means = ctx.epoch_grad_norms
    if means is None:
        return [{"grad_norm": nan, "grad_norm_bias": nan} for _ in range(depth)]
    weights, biases = means[:depth + 1], means[depth + 1:]
    return [{"grad_norm": weights[i].double().cpu().tolist(),
             "grad_norm_bias": biases[i].double().cpu().tolist()} for i in range(depth)]


def _beta_columns(ctx: StatsContext, depth: int, num_seeds: int) -> list[dict[str, Any]]:
    if not ctx.cfg.stats.h or ctx.student.kind != "fc":
        return [{"student_beta": [None] * num_seeds, "student_h_diag": [None] * num_seeds}
                for _ in range(depth)]
    bd = beta_diag(ctx.student, ctx.eval_x[:, :ctx.cfg.stats.h_samples])
    return [{"student_beta": b.sqrt().cpu().tolist(), "student_h_diag": h.cpu().tolist()}
            for b, h in zip(bd.beta, bd.h, strict=True)]


def extra_columns(ctx: StatsContext, eval_corrs: tuple[Tensor, ...],
                  train_corrs: tuple[Tensor, ...] | None) -> list[dict[str, list[Any]]]:
    """Per hidden layer, ``{column: [value of seed 0, seed 1, ...]}`` (module docstring)."""
    num_seeds, depth = len(ctx.seeds), ctx.student.depth
    out = _grad_columns(ctx, num_seeds)
    for cols, beta in zip(out, _beta_columns(ctx, depth, num_seeds), strict=True):
        cols.update(beta)
    for layer, corr in enumerate(eval_corrs):
        counts = students_above(corr, STUDENT_THRESHOLDS)  # (S, T, m)
        for t, thr in enumerate(STUDENT_THRESHOLDS):
            out[layer][threshold_column(thr, "students")] = counts[:, t].tolist()
        if train_corrs is None:
            out[layer]["teacher_best_train_corr"] = [None] * num_seeds
            out[layer]["student_best_train_corr"] = [None] * num_seeds
        else:
            train = train_corrs[layer]
            teacher_best = torch.where(torch.isnan(train).any(dim=-2), torch.nan,
                                       train.max(dim=-2).values)
            out[layer]["teacher_best_train_corr"] = teacher_best.tolist()
            out[layer]["student_best_train_corr"] = student_best_corr(train).tolist()
    return out
