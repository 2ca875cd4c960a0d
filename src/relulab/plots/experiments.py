"""Figures of ``relulab experiment`` (torch-free, from a part's results folder), written into
``ROOT/experiment/`` so that ``relulab report ROOT`` embeds them: first-recovery epoch per
teacher node, success rate vs N_train, and the multilayer L-shape from β."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path

from relulab.experiments.tables import node_stats
from relulab.plots.common import new_figure
from relulab.plots.figures import FORMATS, write_figure
from relulab.results.query import connect


def first_recovery_figure(root: str | os.PathLike, out_dir: Path) -> list[Path]:
    """Median epoch of first recovery vs teacher node index, one curve per cell (nodes never
    recovered are left out of their curve)."""
    fig = new_figure(6.5, 4)
    ax = fig.subplots()
    for cell, e in node_stats(root).items():
        pts = [(j, statistics.median(f)) for j, f in enumerate(e["first"]) if f]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=cell)
    ax.set_xlabel("teacher node (fan-out decreasing)")
    ax.set_ylabel("first epoch with corr > 0.95 (median)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="xx-small", ncol=2)
    return write_figure(fig, out_dir, "first_recovery", FORMATS)


def rate_vs_n_figure(root: str | os.PathLike, out_dir: Path) -> list[Path]:
    """Mean final success rate over teacher nodes vs N_train, a line per (data.kind, multi)."""
    con = connect(root)
    try:
        meta = con.execute("SELECT DISTINCT cell, data_kind, multi, data_train_size "
                           "FROM results").fetchall()
    finally:
        con.close()
    stats = node_stats(root)
    lines: dict[tuple, list[tuple[int, float]]] = {}
    for cell, kind, multi, n in meta:
        end = stats[cell]["end"]
        lines.setdefault((kind, multi), []).append((n, sum(end) / len(end)))
    fig = new_figure(6, 4)
    ax = fig.subplots()
    for (kind, multi), pts in sorted(lines.items()):
        pts.sort()
        ax.plot(*zip(*pts, strict=True), marker="o", linestyle="-" if kind == "gaussian"
                else "--", label=f"{kind}, multi={multi}")
    ax.set_xscale("log")
    ax.set_xlabel("N_train")
    ax.set_ylabel("mean success rate (end)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    return write_figure(fig, out_dir, "rate_vs_n", FORMATS)


def beta_lshape_figure(root: str | os.PathLike, out_dir: Path) -> list[Path]:
    """Multilayer L-shape: per hidden layer, each student node's best train correlation vs
    sqrt(diag E[β_kk]) at the end."""
    con = connect(root)
    try:
        rows = con.execute(
            "SELECT layer, unnest(coalesce(student_best_train_corr, student_best_corr)), "
            "unnest(student_beta) FROM results WHERE final AND student_beta IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    layers = sorted({r[0] for r in rows})
    fig = new_figure(3.2 * max(len(layers), 1), 3)
    axes = fig.subplots(1, max(len(layers), 1), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=False):
        pts = [(x, y) for ly, x, y in rows if ly == layer and x is not None and y is not None
               and math.isfinite(x) and math.isfinite(y)]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=4, alpha=0.5, linewidths=0)
        ax.set_title(f"layer {layer}", fontsize="medium")
        ax.set_xlabel("best train correlation")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("sqrt(diag E[β])")
    return write_figure(fig, out_dir, "lshape_beta", FORMATS)


def experiment_figures(experiment: str, parts: dict[str, str | os.PathLike]) -> list[Path]:
    """Draw the experiment's own figures into each part's ``experiment/`` folder."""
    paths: list[Path] = []
    for part, root in parts.items():
        out = Path(root) / "experiment"
        out.mkdir(parents=True, exist_ok=True)
        if part == "multilayer":
            paths += beta_lshape_figure(root, out)
        elif experiment == "sample-complexity":
            paths += rate_vs_n_figure(root, out)
        else:
            paths += first_recovery_figure(root, out)
    return paths
