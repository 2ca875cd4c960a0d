"""What the sweep figures need from a results folder: cells, their grid points, panels and
colours, read from the stored cells and the ``results`` view (never from live objects)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relulab.config.grid import format_point_value
from relulab.plots.common import new_figure
from relulab.results.query import connect
from relulab.results.store import SweepStore

SERIES_KEY = "p"  # one curve per value of this grid key (colour); the other keys make panels


def value_key(v: Any) -> tuple:
    """Sort key of a grid value read back from JSON: numbers before text, lists itemwise."""
    if isinstance(v, list):
        return tuple(value_key(x) for x in v)
    return (0, v) if isinstance(v, int | float) else (1, str(v))


class SweepView:
    """A results folder's cells in grid order, grouped into panels (facets) and series."""

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
            value_key(self.points[n].get(k)) for k in keys))
        self.facet_keys = [k for k in keys if k != SERIES_KEY]
        self.layers = [r[0] for r in self.con.execute(
            "SELECT DISTINCT layer FROM results ORDER BY layer").fetchall()]

    def close(self) -> None:
        self.con.close()

    def facet(self, cell: str) -> tuple:
        return tuple(value_key(self.points[cell].get(k)) for k in self.facet_keys)

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
                        key=lambda s: value_key(self._series_value(s)))
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
            ncols = len({value_key(p.get(last)) for p in self.points.values()})
            if 1 < ncols <= 6 and n_panels % ncols == 0:
                return n_panels // ncols, ncols
        ncols = min(4, n_panels)
        return math.ceil(n_panels / ncols), ncols

    def subplots(self, n_panels: int, width: float = 3.4, height: float = 2.8
                 ) -> tuple[Any, list[Any]]:
        """A figure with ``n_panels`` axes laid out by :meth:`grid_shape` (shared y)."""
        rows, cols = self.grid_shape(n_panels)
        fig = new_figure(width * cols + 0.6, height * rows + 0.8)
        axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
        flat = list(axes.flat)
        for ax in flat[n_panels:]:
            ax.set_visible(False)
        return fig, flat[:n_panels]

    def label_rows(self, axes: Sequence[Any], text: str) -> None:
        """Y label on the first panel of every row."""
        for ax in axes[:: self.grid_shape(len(axes))[1]]:
            ax.set_ylabel(text)
