"""The sweep figures, drawn from a results folder only (never from live objects).

Panels are the grid points without ``p`` (e.g. one per (m, multi)); inside a panel, one curve
per fan-out decay ``p`` (colour), as in Student Specialization's main figure. Every figure is
written as PNG and SVG.

- ``recovery_layer{l}``: successful recovery rate (fraction of seeds in which some student node
  has eval correlation > ``RECOVERY_THRESHOLD`` = 0.95 with teacher node j; the ``recovery`` view
  of :mod:`relulab.results.query`) vs teacher node index j, after ~5 epochs (dotted) and at the end
  (solid). Student Specialization Fig. (docs/conventions.md).
- ``lshape_layer{l}``: per student node, best correlation with a teacher node (x) vs the L2 norm
  of its fan-out weights (y), at the end ("L-shape").
- ``rho``: per layer, rho-bar over epochs, median over seeds with a 10–90 % seed band (Luck
  Matters).
- ``winner_rank_layer{l}``: histogram of the initial rank of each teacher node's final best
  student ("luck": winners start near the top).
- theory figures: PNG/SVG files under ``DIR/theory/`` (from ``relulab theory ... --figure``),
  listed with the others and embedded in the report.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relulab.plots.common import (
    figure_legend,
    integer_ticks,
    legend_line,
    new_figure,
    save_figure,
)
from relulab.plots.view import SweepView
from relulab.results.store import ensure_dir

EPOCH_EARLY = 5  # the paper's "after 5 epochs" curves
FORMATS = ("png", "svg")
MAX_POINTS_PER_PANEL = 40_000  # L-shape scatter subsample
DPI = 110


def write_figure(fig: Any, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    """Lay out ``fig`` below the figure legend and write ``out_dir/name.<fmt>`` per format."""
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return [save_figure(fig, out_dir / f"{name}.{fmt}", dpi=DPI) for fmt in formats]


def early_epoch(epochs: Sequence[int], final_epoch: int) -> int | None:
    """The recorded epoch standing for "after 5 epochs": 5 if recorded, else the last recorded
    epoch before 5, else the first after init; None if that is the final epoch itself."""
    positive = sorted(e for e in epochs if e > 0)
    if not positive:
        return None
    before = [e for e in positive if e <= EPOCH_EARLY]
    epoch = before[-1] if before else positive[0]
    return None if epoch >= final_epoch else epoch


def recovery_figure(view: SweepView, layer: int, out_dir: Path,
                    formats: Sequence[str] = FORMATS) -> list[Path]:
    rows = view.con.execute(
        "SELECT cell, epoch, final, teacher_node, rate FROM recovery WHERE layer = ? "
        "ORDER BY cell, epoch, teacher_node", [layer]).fetchall()
    data: dict[str, dict[int, dict[int, float]]] = {}
    finals: dict[str, int] = {}
    for cell, epoch, final, node, rate in rows:
        data.setdefault(cell, {}).setdefault(epoch, {})[node] = rate
        if final:
            finals[cell] = max(finals.get(cell, 0), epoch)
    panels = view.panels()
    colors = view.colors()
    fig, axes = view.subplots(len(panels))
    early_label = None
    for ax, cells in zip(axes, panels, strict=True):
        for cell in cells:
            if cell not in data:
                continue
            final_epoch = finals.get(cell, max(data[cell]))
            early = early_epoch(list(data[cell]), final_epoch)
            for epoch, style in ((final_epoch, "-"), (early, ":")):
                if epoch is None:
                    continue
                nodes = sorted(data[cell][epoch])
                rates = [data[cell][epoch][j] for j in nodes]
                ax.plot(nodes, rates, style, color=colors[cell], marker=".", markersize=3,
                        linewidth=1.4, label=view.series_label(cell) if style == "-" else None)
            if early is not None:
                early_label = early
        ax.set_title(view.facet_label(cells[0]), fontsize="medium")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("teacher node index j")
        ax.xaxis.set_major_locator(integer_ticks())
        ax.grid(alpha=0.3)
    view.label_rows(axes, "Successful Recovery Rate")
    extra = [legend_line(color="k", linestyle="-", label="end of training")]
    if early_label is not None:
        extra.append(legend_line(color="k", linestyle=":", label=f"after {early_label} epochs"))
    figure_legend(fig, axes, extra)
    return write_figure(fig, out_dir, f"recovery_layer{layer}", formats)


def _lshape_x(view: SweepView) -> str:
    """The L-shape's x: best TRAIN correlation as the original (eval where none recorded)."""
    cols = {r[0] for r in view.con.execute("DESCRIBE results").fetchall()}
    if "student_best_train_corr" in cols:
        return "coalesce(student_best_train_corr, student_best_corr)"
    return "student_best_corr"


def lshape_figure(view: SweepView, layer: int, out_dir: Path,
                  formats: Sequence[str] = FORMATS) -> list[Path]:
    import numpy as np

    rows = view.con.execute(
        f"SELECT cell, unnest({_lshape_x(view)}) AS x, unnest(student_fanout_norm) AS y "
        "FROM results WHERE final AND layer = ?", [layer]).fetchall()
    points: dict[str, list[tuple[float, float]]] = {}
    for cell, x, y in rows:
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
            points.setdefault(cell, []).append((x, y))
    panels = view.panels()
    colors = view.colors()
    fig, axes = view.subplots(len(panels))
    rng = np.random.default_rng(0)  # subsampling only; fixed so figures are reproducible
    for ax, cells in zip(axes, panels, strict=True):
        total = sum(len(points.get(c, [])) for c in cells)
        keep = min(1.0, MAX_POINTS_PER_PANEL / max(total, 1))
        for cell in cells:
            xy = np.asarray(points.get(cell, []), dtype=float).reshape(-1, 2)
            if keep < 1.0 and len(xy):
                xy = xy[rng.random(len(xy)) < keep]
            ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.5, color=colors[cell], linewidths=0,
                       label=view.series_label(cell), rasterized=True)
        ax.set_title(view.facet_label(cells[0]), fontsize="medium")
        ax.set_xlabel("best (train) correlation with a teacher node")
        ax.set_xlim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    view.label_rows(axes, "fan-out weight norm")
    figure_legend(fig, axes)
    return write_figure(fig, out_dir, f"lshape_layer{layer}", formats)


def rho_figure(view: SweepView, out_dir: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    rows = view.con.execute(
        "SELECT cell, layer, epoch, median(rho_greedy), quantile_cont(rho_greedy, 0.1), "
        "quantile_cont(rho_greedy, 0.9) FROM results WHERE NOT isnan(rho_greedy) "
        "GROUP BY cell, layer, epoch ORDER BY cell, layer, epoch").fetchall()
    curves: dict[tuple[str, int], list[tuple[int, float, float, float]]] = {}
    for cell, layer, epoch, med, lo, hi in rows:
        curves.setdefault((cell, layer), []).append((epoch, med, lo, hi))
    panels = view.panels()
    colors = view.colors()
    if len(view.layers) == 1:
        specs = [(cells, view.layers[0]) for cells in panels]
        fig, axes = view.subplots(len(specs))
    else:
        nrows, ncols = len(panels), len(view.layers)
        fig = new_figure(3.4 * ncols + 0.6, 2.8 * nrows + 0.8)
        grid = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        specs = [(cells, layer) for cells in panels for layer in view.layers]
        axes = list(grid.flat)
    for ax, (cells, layer) in zip(axes, specs, strict=True):
        for cell in cells:
            pts = curves.get((cell, layer), [])
            if not pts:
                continue
            epochs, med, lo, hi = zip(*pts, strict=True)
            ax.plot(epochs, med, color=colors[cell], linewidth=1.4,
                    label=view.series_label(cell))
            ax.fill_between(epochs, lo, hi, color=colors[cell], alpha=0.18, linewidth=0)
        title = view.facet_label(cells[0])
        ax.set_title(f"{title} · layer {layer}" if len(view.layers) > 1 else title,
                     fontsize="medium")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(integer_ticks())
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    if len(view.layers) == 1:
        view.label_rows(axes, "ρ̄ (median, 10–90 % of seeds)")
    else:
        for ax in axes[:: len(view.layers)]:
            ax.set_ylabel("ρ̄ (median, 10–90 % of seeds)")
    figure_legend(fig, axes)
    return write_figure(fig, out_dir, "rho", formats)


def winner_rank_figure(view: SweepView, layer: int, out_dir: Path,
                       formats: Sequence[str] = FORMATS) -> list[Path]:
    import numpy as np

    rows = view.con.execute(
        "SELECT cell, n, unnest(winner_rank) AS r FROM results WHERE final AND layer = ?",
        [layer]).fetchall()
    ranks: dict[str, list[int]] = {}
    widths: dict[str, int] = {}
    for cell, n, r in rows:
        widths[cell] = n
        if r is not None and r >= 0:
            ranks.setdefault(cell, []).append(r)
    panels = view.panels()
    colors = view.colors()
    fig, axes = view.subplots(len(panels))
    for ax, cells in zip(axes, panels, strict=True):
        n = max((widths.get(c, 1) for c in cells), default=1)
        bins = np.arange(0, n + 1) - 0.5 if n <= 40 else np.linspace(-0.5, n - 0.5, 41)
        for cell in cells:
            if ranks.get(cell):
                ax.hist(ranks[cell], bins=bins, density=True, histtype="step", linewidth=1.4,
                        color=colors[cell], label=view.series_label(cell))
        ax.set_title(f"{view.facet_label(cells[0])} (n={n})", fontsize="medium")
        ax.set_xlabel("initial rank of the final best student")
        ax.grid(alpha=0.3)
    view.label_rows(axes, "fraction of teacher nodes")
    figure_legend(fig, axes)
    return write_figure(fig, out_dir, f"winner_rank_layer{layer}", formats)


def theory_figures(root: str | os.PathLike) -> list[Path]:
    """Theory figures stored with the sweep: ``root/theory/*.png|svg`` (e.g. written by
    ``relulab theory ... --figure DIR/theory/NAME.png``); they are computed, not read from
    results, so they are collected rather than redrawn."""
    out: list[Path] = []
    for name in ("theory", "experiment"):  # experiment/: `relulab experiment`'s own figures
        folder = Path(root) / name
        if folder.is_dir():
            out += sorted(p for p in folder.iterdir()
                          if p.suffix in (".png", ".svg") and p.is_file())
    return out


def plot_all(root: str | os.PathLike, out_dir: str | os.PathLike | None = None,
             formats: Sequence[str] = FORMATS, theory: bool = True) -> list[Path]:
    """Draw every figure of the sweep in ``root`` into ``out_dir`` (default ``root/figures``);
    returns the written paths."""
    out = ensure_dir(Path(out_dir) if out_dir is not None else Path(root) / "figures")
    view = SweepView(root)
    paths: list[Path] = []
    try:
        for layer in view.layers:
            paths += recovery_figure(view, layer, out, formats)
        for layer in view.layers:
            paths += lshape_figure(view, layer, out, formats)
        paths += rho_figure(view, out, formats)
        for layer in view.layers:
            paths += winner_rank_figure(view, layer, out, formats)
    finally:
        view.close()
    if theory:
        paths += theory_figures(root)
    return paths
