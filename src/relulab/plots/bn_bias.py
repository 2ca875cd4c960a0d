"""The BatchNorm-bias figure (Luck Matters' VGG evidence): per BN layer, the share of negative
biases, with the overall share and the 50 % line. Drawn from the JSON-ready record of
:func:`relulab.experiments.bn_bias.report` (torch-free)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relulab.plots.common import integer_ticks, new_figure, save_figure


def bn_bias_figure(reports: Mapping[str, Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """One panel per network (``{label: report}``): bars of the negative-bias fraction of each
    BN layer (bottom to top), a dashed line at the network's overall fraction, a dotted one at
    0.5."""
    fig = new_figure(max(4.0, 3.2 * len(reports)), 3.2, layout="constrained")
    axes = fig.subplots(1, len(reports), squeeze=False)[0]
    for ax, (label, rep) in zip(axes, reports.items(), strict=True):
        fractions = [layer["fraction"] for layer in rep["layers"]]
        ax.bar(range(1, len(fractions) + 1), fractions, color="tab:blue")
        total = rep["overall"]["fraction"]
        ax.axhline(total, color="tab:red", linestyle="--", label=f"all layers: {total:.2f}")
        ax.axhline(0.5, color="k", linestyle=":", linewidth=0.8)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(integer_ticks())
        ax.set_xlabel("BN layer (bottom to top)")
        ax.set_ylabel("fraction of negative BN biases")
        ax.set_title(label, fontsize="medium")
        ax.legend(fontsize="small", loc="upper left")
    return save_figure(fig, path)
