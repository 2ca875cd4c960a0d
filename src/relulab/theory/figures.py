"""Figures for the theory experiments: matplotlib's object API on the Agg canvas (no pyplot,
no global backend switch); PNG or SVG by the path's suffix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from relulab.config import ConfigError
from relulab.theory.convergence import ConvergenceRow, SymmetryBreaking
from relulab.theory.symmetric import CriticalPoint, diagonal_saddle_x, phase_grid
from relulab.theory.thm5 import Thm5Result, luck_table

SUFFIXES = (".png", ".svg")
_KIND_STYLE = {"minimum": ("o", "tab:green"), "saddle": ("X", "tab:red"),
               "maximum": ("s", "tab:purple"), "degenerate": ("D", "tab:orange")}


def check_path(path: str | Path) -> Path:
    """The figure path, or ConfigError when its suffix is not .png / .svg."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"--figure must end in .png or .svg, got '{p.name}'")
    if p.parent != Path("") and not p.parent.is_dir():
        raise ConfigError(f"--figure folder '{p.parent}' does not exist")
    return p


def _figure(**kwargs: object) -> Figure:
    fig = Figure(layout="constrained", **kwargs)  # type: ignore[arg-type]
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    p = check_path(path)
    fig.savefig(p, dpi=120)
    return p


def phase_portraits(points: dict[int, list[CriticalPoint]], path: str | Path,
                    span: float = 1.5) -> Path:
    """Streamlines of the reduced (x, y) field per K, critical points marked by their full-space
    type, the diagonal x = y dashed, the paper's x⁺ as a ring."""
    ks = sorted(points)
    cols = min(4, len(ks))
    rows = math.ceil(len(ks) / cols)
    fig = _figure(figsize=(3.6 * cols, 3.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, K in zip(axes.flat, ks, strict=False):
        gx, gy, u, v = phase_grid(K, span=span, n=60)
        speed = torch.hypot(u, v).clamp_min(1e-12)
        ax.streamplot(gx.numpy(), gy.numpy(), (u / speed).numpy(), (v / speed).numpy(),
                      color="0.55", density=0.9, linewidth=0.6, arrowsize=0.7)
        ax.plot([-span, span], [-span, span], "--", color="0.6", lw=0.8)
        xp = diagonal_saddle_x(K)
        ax.plot([xp], [xp], "o", mfc="none", mec="tab:blue", ms=11)
        for p in points[K]:
            marker, color = _KIND_STYLE[p.kind]
            ax.plot([p.x], [p.y], marker, color=color, ms=7)
        ax.set_title(f"K = {K}")
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    for ax in list(axes.flat)[len(ks):]:
        ax.axis("off")
    handles = [Line2D([], [], marker=m, color=c, ls="", label=k)
               for k, (m, c) in _KIND_STYLE.items()]
    handles.append(Line2D([], [], marker="o", mfc="none", mec="tab:blue", ls="",
                              label="paper x⁺"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8)
    return _save(fig, path)


def convergence_figure(rows: Sequence[ConvergenceRow], path: str | Path) -> Path:
    """Measured single-ReLU convergence fraction vs init std per d, with P(w0 ∈ Ω) and the
    (1 − ε)/2 bound."""
    fig = _figure(figsize=(5.5, 4))
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
    ax.set_xlabel("init std")
    ax.set_ylabel("fraction converged to w*")
    ax.set_ylim(-0.02, 1.05)
    ax.legend(fontsize=7)
    return _save(fig, path)


def ssb_figure(result: SymmetryBreaking, path: str | Path) -> Path:
    """Histogram of steps to reach a permutation of W*."""
    fig = _figure(figsize=(5, 3.5))
    ax = fig.subplots()
    steps = result.steps[result.converged].cpu().numpy()
    ax.hist(steps, bins=30, color="tab:blue")
    ax.set_xlabel("gradient steps to a permutation of W*")
    ax.set_ylabel("trials")
    ax.set_title(f"SSB, K = {result.K}: {int(result.converged.sum())}/{result.n} converged")
    return _save(fig, path)


def thm5_figure(result: Thm5Result, path: str | Path, threshold: float) -> Path:
    """Fan-out norms of teacher-aligned vs other nodes over training (Theorem 5), and initial
    angle vs steps to reach ``threshold`` (Theorem 4)."""
    fig = _figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    m = result.cfg.teacher_hidden
    steps = result.steps.numpy()
    fo = result.fan_out[:, 0]  # seed 0
    for j in range(fo.shape[1]):
        left.plot(steps, fo[:, j].numpy(), color="tab:green" if j < m else "tab:red", lw=0.7)
    left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel("fan-out norm (seed 0)")
    left.set_title("green: teacher-aligned, red: others")
    rows, rho = luck_table(result, threshold)
    hit = [r for r in rows if r.steps_to_threshold >= 0]
    right.scatter([r.initial_angle for r in hit], [r.steps_to_threshold for r in hit], s=12)
    right.set_xlabel("initial angle to teacher node (rad)")
    right.set_ylabel(f"steps until angle < {threshold}")
    right.set_title(f"Spearman ρ = {rho:.2f}")
    return _save(fig, path)


def layer_error_figure(labels: Sequence[str], errors: Sequence[float], path: str | Path,
                       title: str) -> Path:
    """Bar chart of a per-layer relative error (log scale)."""
    fig = _figure(figsize=(5.5, 3.5))
    ax = fig.subplots()
    ax.bar(list(labels), [max(e, 1e-17) for e in errors], color="tab:blue")
    ax.set_yscale("log")
    ax.set_ylabel("relative error")
    ax.set_title(title)
    return _save(fig, path)
