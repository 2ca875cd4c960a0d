"""Figures of the theory experiments (``relulab theory ... --figure``): drawn from the
experiments' result objects, written by :func:`relulab.plots.common.save_figure` (PNG or SVG by
the path's suffix, atomically). Torch and the experiments are imported only inside the
functions, so ``import relulab.plots`` stays torch-free."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from relulab.plots.common import legend_line, new_figure, save_figure

if TYPE_CHECKING:
    from relulab.experiments.convergence import ConvergenceRow, SymmetryBreaking
    from relulab.experiments.thm5 import Thm5Result
    from relulab.theory.symmetric import CriticalPoint

KIND_STYLE = {"minimum": ("o", "tab:green"), "saddle": ("X", "tab:red"),
              "maximum": ("s", "tab:purple"), "degenerate": ("D", "tab:orange")}  # marker, colour
X_PLUS_STYLE = {"marker": "o", "ls": "", "mfc": "none", "mec": "tab:blue"}  # ring at the paper's x⁺


def phase_portraits(points: dict[int, list[CriticalPoint]], path: str | Path, *,
                    span: float) -> Path:
    """Streamlines of the reduced (x, y) field per K, critical points marked by their full-space
    type, the diagonal x = y dashed, the paper's x⁺ as a ring."""
    from relulab.theory.symmetric import diagonal_saddle_x, phase_grid

    ks = sorted(points)
    cols = min(4, len(ks))
    rows = math.ceil(len(ks) / cols)
    fig = new_figure(3.6 * cols, 3.4 * rows, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, K in zip(axes.flat, ks, strict=False):
        gx, gy, u, v = (t.numpy() for t in phase_grid(K, span=span, n=60))
        speed = np.maximum(np.hypot(u, v), 1e-12)
        ax.streamplot(gx, gy, u / speed, v / speed, color="0.55", density=0.9, linewidth=0.6,
                      arrowsize=0.7)
        ax.plot([-span, span], [-span, span], "--", color="0.6", lw=0.8)
        xp = diagonal_saddle_x(K)
        ax.plot([xp], [xp], ms=11, **X_PLUS_STYLE)
        for p in points[K]:
            marker, color = KIND_STYLE[p.kind]
            ax.plot([p.x], [p.y], marker, color=color, ms=7)
        ax.set(title=f"K = {K}", xlim=(-span, span), ylim=(-span, span), xlabel="x", ylabel="y")
    for ax in list(axes.flat)[len(ks):]:
        ax.axis("off")
    handles = [legend_line(marker=m, color=c, ls="", label=k) for k, (m, c) in KIND_STYLE.items()]
    handles.append(legend_line(label="paper x⁺", **X_PLUS_STYLE))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8)
    return save_figure(fig, path)


def convergence_figure(rows: Sequence[ConvergenceRow], path: str | Path) -> Path:
    """Measured single-ReLU convergence fraction vs init std per d, with P(w0 ∈ Ω) and the
    (1 − ε)/2 bound."""
    fig = new_figure(5.5, 4, layout="constrained")
    ax = fig.subplots()
    for i, d in enumerate(sorted({r.d for r in rows})):
        sel = sorted((r for r in rows if r.d == d), key=lambda r: r.std)
        std = [r.std for r in sel]
        color = f"C{i}"
        ax.errorbar(std, [r.converged for r in sel],
                    yerr=[[r.converged - r.ci_low for r in sel],
                          [r.ci_high - r.converged for r in sel]],
                    marker="o", color=color, label=f"d = {d}: measured")
        ax.plot(std, [r.basin for r in sel], "--", color=color, label=f"d = {d}: P(w0 ∈ Ω)")
        ax.plot(std, [r.bound for r in sel], ":", color=color, label=f"d = {d}: (1−ε)/2")
    ax.set_xscale("log")
    ax.set(xlabel="init std", ylabel="fraction converged to w*", ylim=(-0.02, 1.05))
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def ssb_figure(result: SymmetryBreaking, path: str | Path) -> Path:
    """Histogram of steps to reach a permutation of W*."""
    fig = new_figure(5, 3.5, layout="constrained")
    ax = fig.subplots()
    ax.hist(result.steps[result.converged].cpu().numpy(), bins=30, color="tab:blue")
    ax.set(xlabel="gradient steps to a permutation of W*", ylabel="trials",
           title=f"SSB, K = {result.K}: {int(result.converged.sum())}/{result.n} converged")
    return save_figure(fig, path)


def thm5_figure(result: Thm5Result, path: str | Path, threshold: float) -> Path:
    """Fan-out norms of teacher-aligned vs other nodes over training (Theorem 5), and initial
    angle vs steps to reach ``threshold`` (Theorem 4)."""
    from relulab.experiments.thm5 import luck_table

    fig = new_figure(10, 4, layout="constrained")
    left, right = fig.subplots(1, 2)
    m = result.cfg.teacher_hidden
    steps = result.steps.numpy()
    fan_out = result.fan_out[:, 0].cpu().numpy()  # seed 0, (T, n)
    for j in range(fan_out.shape[1]):
        left.plot(steps, fan_out[:, j], color="tab:green" if j < m else "tab:red", lw=0.7)
    left.set_yscale("log")
    left.set(xlabel="step", ylabel="fan-out norm (seed 0)",
             title="green: teacher-aligned, red: others")
    rows, rho = luck_table(result, threshold)
    hit = [r for r in rows if r.steps_to_threshold >= 0]
    right.scatter([r.initial_angle for r in hit], [r.steps_to_threshold for r in hit], s=12)
    right.set(xlabel="initial angle to teacher node (rad)",
              ylabel=f"steps until angle < {threshold}", title=f"Spearman ρ = {rho:.2f}")
    return save_figure(fig, path)


def layer_error_figure(labels: Sequence[str], errors: Sequence[float], path: str | Path,
                       title: str) -> Path:
    """Bar chart of a per-layer relative error (log scale)."""
    fig = new_figure(5.5, 3.5, layout="constrained")
    ax = fig.subplots()
    ax.bar(list(labels), [max(e, 1e-17) for e in errors], color="tab:blue")
    ax.set_yscale("log")
    ax.set(ylabel="relative error", title=title)
    return save_figure(fig, path)
