"""relulab's figures, drawn from stored results (torch-free; matplotlib only when drawing).

- :mod:`.common`: the figure plumbing every figure shares (:func:`save_figure`, one atomic
  PNG/SVG writer; :func:`new_figure` on its own Agg canvas; legend helpers).
- :mod:`.view`: :class:`SweepView`, a results folder's cells, panels and colours.
- :mod:`.figures`: the sweep figures (recovery, L-shape, ρ̄, winner rank) and :func:`plot_all`.
- :mod:`.theory`: the theory experiments' figures; imported on first use
  (``relulab.plots.theory``), as it needs the theory code and torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from relulab.plots.common import new_figure, save_figure
from relulab.plots.figures import (
    EPOCH_EARLY,
    FORMATS,
    early_epoch,
    lshape_figure,
    plot_all,
    recovery_figure,
    rho_figure,
    theory_figures,
    winner_rank_figure,
)
from relulab.plots.view import SweepView

_LAZY_SUBMODULES = ("theory",)  # need torch: imported on first attribute access


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EPOCH_EARLY", "FORMATS", "SweepView", "early_epoch", "lshape_figure", "new_figure",
           "plot_all", "recovery_figure", "rho_figure", "save_figure", "theory_figures",
           "winner_rank_figure"]
