"""Figures of a sweep, drawn from its results folder only (never from live objects).

Panels are the grid points without ``p`` (e.g. one per (m, multi)); inside a panel, one curve
per fan-out decay ``p`` (colour), as in Student Specialization's main figure. Every figure is
written as PNG and SVG.

- ``recovery_layer{l}``: successful recovery rate (fraction of seeds in which some student node
  has eval correlation > 0.95 with teacher node j) vs teacher node index j, after ~5 epochs
  (dotted) and at the end (solid). Student Specialization Fig. (PAPERS.md §3–4).
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

from relulab.query import connect
from relulab.store import SweepStore, ensure_dir

SERIES_KEY = "p"
EPOCH_EARLY = 5  # the paper's "after 5 epochs" curves
FORMATS = ("png", "svg")
MAX_POINTS_PER_PANEL = 40_000  # L-shape scatter subsample


def _figure(width: float, height: float) -> Any:
    """A figure on its own Agg canvas (no pyplot: the caller's backend is left alone)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _line(**kwargs: Any) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], **kwargs)


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _value_key(v: Any) -> tuple:
    if isinstance(v, list):
        return tuple(_value_key(x) for x in v)
    return (0, v) if isinstance(v, int | float) else (1, str(v))


def format_point_value(v: Any) -> str:
    """Text of a grid value read back from JSON (lists were tuples)."""
    from relulab.sweep import format_value

    if isinstance(v, list):
        v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
    return format_value(v)


class SweepView:
    """What the figures need from a results folder: cells, their grid points and panels."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.con = connect(self.root)
        stored = SweepStore(self.root).load_cells()
        names = [r[0] for r in self.con.execute(
            "SELECT DISTINCT cell FROM results").fetchall()]
        self.points: dict[str, dict[str, Any]] = {
            n: (stored[n]["point"] if n in stored else {}) for n in names}
        keys: list[str] = []
        for point in self.points.values():
            keys += [k for k in point if k not in keys]
        self.keys = keys
        self.cells = sorted(names, key=lambda n: tuple(
            _value_key(self.points[n].get(k)) for k in keys))
        self.facet_keys = [k for k in keys if k != SERIES_KEY]
        self.layers = [r[0] for r in self.con.execute(
            "SELECT DISTINCT layer FROM results ORDER BY layer").fetchall()]

    def close(self) -> None:
        self.con.close()

    def facet(self, cell: str) -> tuple:
        return tuple(_value_key(self.points[cell].get(k)) for k in self.facet_keys)

    def facet_label(self, cell: str) -> str:
        point = self.points[cell]
        label = ", ".join(f"{k}={format_point_value(point[k])}" for k in self.facet_keys
                          if k in point)
        return label or "all cells"

    def series_label(self, cell: str) -> str:
        point = self.points[cell]
        if SERIES_KEY in point:
            return f"p={format_point_value(point[SERIES_KEY])}"
        return cell

    def panels(self) -> list[list[str]]:
        """Cells grouped by facet, in grid order."""
        out: dict[tuple, list[str]] = {}
        for cell in self.cells:
            out.setdefault(self.facet(cell), []).append(cell)
        return list(out.values())

    def colors(self) -> dict[str, Any]:
        """One colour per series value (viridis over sorted p), shared by all panels."""
        from matplotlib import colormaps

        labels = sorted({self.series_label(c) for c in self.cells},
                        key=lambda s: _value_key(self._series_value(s)))
        cmap = colormaps["viridis"]
        n = max(len(labels) - 1, 1)
        colours = {lab: cmap(0.9 * i / n) for i, lab in enumerate(labels)}
        return {c: colours[self.series_label(c)] for c in self.cells}

    def _series_value(self, label: str) -> Any:
        if label.startswith(f"{SERIES_KEY}="):
            try:
                return float(label.split("=", 1)[1])
            except ValueError:
                return label
        return label

    def grid_shape(self, n_panels: int) -> tuple[int, int]:
        """Rows x columns: the last facet key's values across when it has few values."""
        if n_panels <= 1:
            return 1, 1
        if self.facet_keys:
            last = self.facet_keys[-1]
            ncols = len({_value_key(p.get(last)) for p in self.points.values()})
            if 1 < ncols <= 6 and n_panels % ncols == 0:
                return n_panels // ncols, ncols
        ncols = min(4, n_panels)
        return math.ceil(n_panels / ncols), ncols


def _subplots(view: SweepView, n_panels: int, width: float = 3.4, height: float = 2.8,
              ) -> tuple[Any, list[Any]]:
    rows, cols = view.grid_shape(n_panels)
    fig = _figure(width * cols + 0.6, height * rows + 0.8)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def _ylabel(view: SweepView, axes: Sequence[Any], text: str) -> None:
    """Label the first panel of every row."""
    for ax in axes[:: view.grid_shape(len(axes))[1]]:
        ax.set_ylabel(text)


def _legend(fig: Any, axes: Sequence[Any], extra: Sequence[Any] = ()) -> None:
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    for h in extra:
        handles.append(h)
        labels.append(h.get_label())
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 8),
                   fontsize="small", frameon=False, bbox_to_anchor=(0.5, 1.0))


def _save(fig: Any, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        tmp = out_dir / f".{name}.tmp.{fmt}"
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
        paths.append(path)
    return paths


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
    fig, axes = _subplots(view, len(panels))
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
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.grid(alpha=0.3)
    _ylabel(view, axes, "Successful Recovery Rate")
    extra = [_line(color="k", linestyle="-", label="end of training")]
    if early_label is not None:
        extra.append(_line(color="k", linestyle=":", label=f"after {early_label} epochs"))
    _legend(fig, axes, extra)
    return _save(fig, out_dir, f"recovery_layer{layer}", formats)


def lshape_figure(view: SweepView, layer: int, out_dir: Path,
                  formats: Sequence[str] = FORMATS) -> list[Path]:
    import numpy as np

    rows = view.con.execute(
        "SELECT cell, unnest(student_best_corr) AS x, unnest(student_fanout_norm) AS y "
        "FROM results WHERE final AND layer = ?", [layer]).fetchall()
    points: dict[str, list[tuple[float, float]]] = {}
    for cell, x, y in rows:
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
            points.setdefault(cell, []).append((x, y))
    panels = view.panels()
    colors = view.colors()
    fig, axes = _subplots(view, len(panels))
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
        ax.set_xlabel("best correlation with a teacher node")
        ax.set_xlim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    _ylabel(view, axes, "fan-out weight norm")
    _legend(fig, axes)
    return _save(fig, out_dir, f"lshape_layer{layer}", formats)


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
        fig, axes = _subplots(view, len(specs))
    else:
        nrows, ncols = len(panels), len(view.layers)
        fig = _figure(3.4 * ncols + 0.6, 2.8 * nrows + 0.8)
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
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    if len(view.layers) == 1:
        _ylabel(view, axes, "ρ̄ (median, 10–90 % of seeds)")
    else:
        for ax in axes[:: len(view.layers)]:
            ax.set_ylabel("ρ̄ (median, 10–90 % of seeds)")
    _legend(fig, axes)
    return _save(fig, out_dir, "rho", formats)


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
    fig, axes = _subplots(view, len(panels))
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
    _ylabel(view, axes, "fraction of teacher nodes")
    _legend(fig, axes)
    return _save(fig, out_dir, f"winner_rank_layer{layer}", formats)


def theory_figures(root: str | os.PathLike) -> list[Path]:
    """Theory figures stored with the sweep: ``root/theory/*.png|svg`` (e.g. written by
    ``relulab theory ... --figure DIR/theory/NAME.png``); they are computed, not read from
    results, so they are collected rather than redrawn."""
    folder = Path(root) / "theory"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".png", ".svg") and p.is_file())


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
