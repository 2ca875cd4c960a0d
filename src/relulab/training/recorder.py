"""Statistics recorded during training: a :func:`relulab.training.engine.train` callback.

:class:`StatsRecorder` is called by the engine at init (epoch 0), every ``cfg.stats_every``
epochs and at the end (``ctx.final``). Each call streams the eval set through teacher and student,
correlates every student node with every teacher node per hidden layer
(:mod:`relulab.metrics`), and appends one row per (seed, layer) to the ``layers`` table:

==================== ========================================================================
seed, member          the seed, and its index on the batch's leading axis
epoch, step, final    when (epochs / steps completed; final = last call of the run)
layer                 hidden layer, 1 = lowest
rho_greedy            mean over teacher nodes of the best student correlation (papers' rho-bar)
rho_hungarian         the same with a one-to-one (Hungarian) matching (NaN if n < m)
matched_050 ... _099  teacher nodes whose best correlation exceeds 0.5, 0.8, 0.9, 0.95, 0.99
teacher_best_corr     (m_l,) best student correlation of each teacher node
teacher_best_student  (m_l,) index of that student (-1 if undefined)
winner_rank           (m_l,) rank at init of that student by correlation with the teacher node
student_best_corr     (n_l,) max correlation of each student node over teacher nodes
student_fanout_norm   (n_l,) L2 norm of each student node's outgoing weights
teacher_fanout_norm   (m_l,) the same for the teacher
grad_norm_last_batch  norm of the layer's weight gradient on the last batch (NaN at init)
==================== ========================================================================

plus the columns of :mod:`relulab.training.original_columns` (train correlations, students per
teacher node above thresholds, β / H, epoch-mean gradient norms ``grad_norm``, ``grad_norm_bias``).
The winner rank's initial order comes from the training set when train correlations are on
(the original), else from the eval set.

Rows of diverged seeds are still emitted; metrics are NaN where activations are non-finite.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor

from relulab.metrics import (
    LayerCorrelator,
    fan_out_norms,
    grad_norms,
    greedy_match,
    hungarian_match,
    recovery_rate,
    student_best_corr,
    threshold_counts,
    winner_rank,
)
from relulab.metrics.float32 import Float32Correlator, correlator
from relulab.nets.passes import eval_chunk
from relulab.results.schema import RECOVERY_THRESHOLD, THRESHOLDS, threshold_column
from relulab.training.engine import StatsContext
from relulab.training.original_columns import TrainCorrelations, extra_columns


class StatsRecorder:
    """Records per-layer specialization statistics at the engine's callback cadence.

    ``eval_samples`` limits the eval set to its first samples (the original Luck Matters code
    used 192); ``chunk`` is the number of eval samples per streamed forward (default: sized to
    the nets). The correlations at init are kept for the winner ranks; a call at epoch 0, step
    0 (a new run) replaces them.

    ``precision="float32"`` (default) computes the correlations of fully connected nets with
    float32 cross-products on centred data, guaranteed within 1e-3 of the float64 sums
    (:class:`relulab.metrics.float32.Float32Correlator`); ``"float64"`` (and conv / BN nets)
    keeps float64 sums throughout.
    """

    def __init__(self, *, thresholds: tuple[float, ...] = THRESHOLDS,
                 eval_samples: int | None = None, chunk: int | None = None,
                 precision: str = "float32") -> None:
        if eval_samples is not None and eval_samples < 2:
            raise ValueError(f"eval_samples must be >= 2, got {eval_samples}")
        self.thresholds = tuple(thresholds)
        self.eval_samples = eval_samples
        self.chunk = chunk
        if precision not in ("float32", "float64"):
            raise ValueError(f"precision must be float32 or float64, got {precision!r}")
        self.precision = precision
        self.rows: list[dict[str, Any]] = []
        self.init_correlations: tuple[Tensor, ...] | None = None  # (S, n_l, m_l) on CPU
        self.last_correlations: tuple[Tensor, ...] | None = None
        self._corr: LayerCorrelator | Float32Correlator | None = None
        self._eval_x: Tensor | None = None
        self._train = TrainCorrelations(precision)

    @torch.no_grad()
    def __call__(self, ctx: StatsContext) -> None:
        corrs = tuple(c.cpu() for c in self._eval_correlations(ctx))
        train_corrs = self._train(ctx)
        if ctx.epoch == 0 and ctx.step == 0:  # winner ranks: initial order from training data
            self.init_correlations = corrs if train_corrs is None else train_corrs
        self.last_correlations = corrs
        depth = ctx.student.depth
        num_seeds = len(ctx.seeds)
        student_fan = [t.detach().cpu() for t in fan_out_norms(ctx.student)]
        teacher_fan = [t.detach().cpu() for t in fan_out_norms(ctx.teacher)]
        grads = [g.detach().cpu() for g in grad_norms(ctx.grads, depth, num_seeds)]
        extras = extra_columns(ctx, corrs, train_corrs)
        for layer, corr in enumerate(corrs):
            self._layer_rows(ctx, layer, corr, student_fan[layer], teacher_fan[layer],
                             grads[layer])
            for i, row in enumerate(self.rows[-num_seeds:]):
                row.update((key, values[i]) for key, values in extras[layer].items())

    def _eval_correlations(self, ctx: StatsContext) -> tuple[Tensor, ...]:
        """The eval-set correlations; where the float32 pass runs the eval loss's chunks over
        the whole eval set of an MSE run, it also leaves the engine's eval loss
        (``ctx.shared_eval_loss``), so the engine skips its own pass."""
        corr = self._correlator(ctx)
        if (not isinstance(corr, Float32Correlator) or ctx.eval_y is None
                or ctx.shared_eval_loss is not None or ctx.cfg.optim.loss == "cross_entropy"
                or corr.x.shape[1] != ctx.eval_x.shape[1]
                or corr.chunk != eval_chunk(ctx.student, ctx.eval_x)):
            return corr(ctx.student)
        out = corr(ctx.student, ctx.eval_y)
        ctx.shared_eval_loss = corr.last_loss
        return out

    def _correlator(self, ctx: StatsContext) -> LayerCorrelator | Float32Correlator:
        """The correlator of this run's teacher and eval set (kept: the teacher is fixed)."""
        if (self._corr is None or self._corr.teacher is not ctx.teacher
                or self._eval_x is not ctx.eval_x):
            limit = self.eval_samples or ctx.cfg.stats.eval_samples
            x = ctx.eval_x if limit is None else ctx.eval_x[:, :limit]
            self._corr = correlator(ctx.teacher, ctx.student, x, self.precision, self.chunk)
            self._eval_x = ctx.eval_x
        return self._corr

    def _layer_rows(self, ctx: StatsContext, layer: int, corr: Tensor, student_fan: Tensor,
                    teacher_fan: Tensor, grad: Tensor) -> None:
        num_seeds, n, m = corr.shape
        greedy = greedy_match(corr)
        if n >= m:
            rho_h = hungarian_match(corr).rho
        else:
            rho_h = torch.full((num_seeds,), torch.nan, dtype=corr.dtype)
        counts = threshold_counts(greedy.corr, self.thresholds)  # (S, T)
        init = self.init_correlations
        if init is not None and init[layer].shape == corr.shape:
            ranks = winner_rank(init[layer], greedy.student)
        else:  # no init call recorded for this run
            ranks = torch.full((num_seeds, m), -1, dtype=torch.int64)
        columns = {
            "rho_greedy": greedy.rho.tolist(), "rho_hungarian": rho_h.tolist(),
            "teacher_best_corr": greedy.corr.tolist(),
            "teacher_best_student": greedy.student.tolist(), "winner_rank": ranks.tolist(),
            "student_best_corr": student_best_corr(corr).tolist(),
            "student_fanout_norm": student_fan.double().tolist(),
            "teacher_fanout_norm": teacher_fan.double().tolist(),
            "grad_norm_last_batch": grad.double().tolist(),
        }
        count_list = counts.tolist()
        names = [threshold_column(t) for t in self.thresholds]
        for i, seed in enumerate(ctx.seeds):
            row: dict[str, Any] = {"seed": int(seed), "member": i, "epoch": int(ctx.epoch),
                                   "step": int(ctx.step), "layer": layer + 1,
                                   "final": bool(ctx.final)}
            row["rho_greedy"] = columns["rho_greedy"][i]
            row["rho_hungarian"] = columns["rho_hungarian"][i]
            row.update(zip(names, count_list[i], strict=True))
            for key in ("teacher_best_corr", "teacher_best_student", "winner_rank",
                        "student_best_corr", "student_fanout_norm", "teacher_fanout_norm",
                        "grad_norm_last_batch"):
                row[key] = columns[key][i]
            self.rows.append(row)

    def state_dict(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Tensors and JSON-able state for a checkpoint: rows so far and the correlations at
        init (the winner ranks need them after a resume)."""
        init = self.init_correlations or ()
        return {f"init{i}": c for i, c in enumerate(init)}, {"rows": self.rows}

    def load_state_dict(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        self.rows = list(meta.get("rows", []))
        init = [tensors[f"init{i}"] for i in range(len(tensors)) if f"init{i}" in tensors]
        self.init_correlations = tuple(init) if init else None

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Row tables by name: ``{"layers": [one row per (seed, layer, recorded epoch)]}``."""
        return {"layers": list(self.rows)}

    def _rows_at(self, epoch: int | None) -> list[dict[str, Any]]:
        """Rows of ``epoch`` (of the last recorded call if None)."""
        if not self.rows:
            return []
        if epoch is None:
            last = self.rows[-1]
            return [r for r in self.rows if (r["epoch"], r["step"]) == (last["epoch"],
                                                                       last["step"])]
        rows = [r for r in self.rows if r["epoch"] == epoch]
        if not rows:
            raise ValueError(f"no statistics recorded at epoch {epoch}")
        last_step = max(r["step"] for r in rows)
        return [r for r in rows if r["step"] == last_step]

    def recovery_rates(self, epoch: int | None = None,
                       threshold: float = RECOVERY_THRESHOLD) -> dict[int, Tensor]:
        """Success rate over seeds of each teacher node, ``{layer: (m_l,)}``, at ``epoch``
        (None = the last recorded call, i.e. the end of training)."""
        out: dict[int, Tensor] = {}
        rows = self._rows_at(epoch)
        for layer in sorted({r["layer"] for r in rows}):
            best = torch.tensor([r["teacher_best_corr"] for r in rows if r["layer"] == layer],
                                dtype=torch.float64)  # (S, m)
            out[layer] = recovery_rate(best, threshold)
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Per layer, rho-bar (greedy, hungarian) mean and std over seeds at the last call."""
        rows = self._rows_at(None)
        out = []
        for layer in sorted({r["layer"] for r in rows}):
            sel = [r for r in rows if r["layer"] == layer]
            entry: dict[str, Any] = {"layer": layer, "epoch": sel[0]["epoch"],
                                     "m": len(sel[0]["teacher_best_corr"]),
                                     "n": len(sel[0]["student_best_corr"])}
            for key in ("rho_greedy", "rho_hungarian"):
                vals = np.array([r[key] for r in sel], dtype=np.float64)
                finite = vals[np.isfinite(vals)]
                entry[f"{key}_mean"] = float(finite.mean()) if finite.size else math.nan
                entry[f"{key}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
            entry["seeds"] = int(np.isfinite([r["rho_greedy"] for r in sel]).sum())
            out.append(entry)
        return out

    def print_summary(self, console: Console) -> None:
        """Print the per-layer rho-bar table (mean ± std over seeds) of the last statistics."""
        summary = self.summary()
        if not summary:
            console.print("no statistics recorded")
            return
        table = Table(title=f"ρ̄ per layer at epoch {summary[0]['epoch']} "
                            f"(mean ± std over seeds)")
        for col in ("layer", "m", "n", "ρ̄ greedy", "ρ̄ hungarian", "seeds"):
            table.add_column(col, justify="right")
        for e in summary:
            table.add_row(str(e["layer"]), str(e["m"]), str(e["n"]),
                          f"{e['rho_greedy_mean']:.4f} ± {e['rho_greedy_std']:.4f}",
                          f"{e['rho_hungarian_mean']:.4f} ± {e['rho_hungarian_std']:.4f}",
                          str(e["seeds"]))
        console.print(table)
