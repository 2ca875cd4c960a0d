"""Figure plumbing shared by every relulab figure (sweep figures and theory figures):
matplotlib's object API on its own Agg canvas (no pyplot, the caller's backend is left alone)
and one atomic writer. Imports matplotlib only when called."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relulab.results.store import atomic_write

FIGURE_SUFFIXES = (".png", ".svg")  # formats save_figure writes, chosen by the path's suffix


def new_figure(width: float, height: float, **kwargs: Any) -> Any:
    """A ``width`` x ``height`` inch figure on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` atomically (temp file in the same folder, then rename), as PNG
    or SVG by the suffix; ValueError for another suffix. Returns the path."""
    target = Path(path)
    fmt = target.suffix.lower()
    if fmt not in FIGURE_SUFFIXES:
        raise ValueError(f"a figure path must end in .png or .svg, got '{target.name}'")
    atomic_write(target, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt[1:]))
    return target


def legend_line(**kwargs: Any) -> Any:
    """A legend-only line (no data), e.g. ``legend_line(color="k", linestyle=":")``."""
    from matplotlib.lines import Line2D

    return Line2D([], [], **kwargs)


def integer_ticks() -> Any:
    """A tick locator for integer axes (epochs, node indices)."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def figure_legend(fig: Any, axes: Sequence[Any], extra: Sequence[Any] = ()) -> None:
    """One legend above all panels: the axes' labelled artists (first of each label), then
    ``extra`` handles."""
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
