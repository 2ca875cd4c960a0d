"""Figures of ``relulab theory overlay``: theory against simulation. Drawn from the experiments'
result objects (tensors, read through ``.numpy()``); torch is never imported here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relulab.plots.common import figure_legend, integer_ticks, legend_line, new_figure, save_figure

if TYPE_CHECKING:
    from relulab.experiments.matrix_track import TrackRow
    from relulab.experiments.overlay import Variant

BAND = (10, 90)  # percentiles of the SGD band over seeds


def _band(ax: Any, t: np.ndarray, values: np.ndarray, color: str, label: str) -> None:
    """Median over seeds (axis 1) as a line and the 10–90 % band of ``values (T, S)``."""
    lo, mid, hi = np.percentile(values, [BAND[0], 50, BAND[1]], axis=1)
    ax.fill_between(t, lo, hi, color=color, alpha=0.2, lw=0)
    ax.plot(t, mid, color=color, lw=1.2, label=label)


def _variant_row(axes: Sequence[Any], v: Variant) -> None:
    t = v.times.numpy()
    loss_ax, angle_ax, dev_ax = axes
    for i, lr in enumerate(v.sgd_loss):
        color, label = f"C{i + 1}", f"SGD η = {lr:g}"
        _band(loss_ax, t, v.sgd_loss[lr].numpy(), color, label)
        _band(angle_ax, t, v.sgd_angles[lr].mean(-1).numpy(), color, label)
        _band(dev_ax, t, v.weight_dev[lr].numpy(), color, label)
    loss_ax.plot(t, np.median(v.ode_loss.numpy(), axis=1), "k--", lw=1.4, label="ODE (flow)")
    angle_ax.plot(t, np.median(v.ode_angles.mean(-1).numpy(), axis=1), "k--", lw=1.4,
                  label="ODE (flow)")
    loss_ax.set(yscale="log", ylabel=f"K = {v.students}\nJ(t)")
    angle_ax.set(ylabel="mean angle to matched teacher (rad)")
    dev_ax.set(yscale="log", ylabel="‖W_SGD − W_ODE‖ / ‖W_ODE‖")
    for ax in axes:
        ax.grid(alpha=0.3)


def overlay_figure(variants: Sequence[Variant], path: str | Path) -> Path:
    """One row per student width K: J(t), the mean student–teacher angle and the relative
    weight deviation; the flow as a dashed line (median over seeds), SGD at each learning rate
    as its median over seeds with a 10–90 % band, time t = η × steps."""
    fig = new_figure(13, 3.4 * len(variants) + 0.6, layout="constrained")
    axes = fig.subplots(len(variants), 3, squeeze=False)
    for row, v in zip(axes, variants, strict=True):
        _variant_row(row, v)
    for ax in axes[-1]:
        ax.set_xlabel("t = η × steps")
    figure_legend(fig, list(axes.flat))
    fig.get_layout_engine().set(rect=(0, 0, 1, 0.94))
    return save_figure(fig, path)


def matrix_track_figure(rows: Sequence[TrackRow], path: str | Path) -> Path:
    """Relative error of the matrix-form update against the actual expected gradient per weight
    layer over epochs: median over seeds, band = min–max."""
    fig = new_figure(6.5, 4.2, layout="constrained")
    ax = fig.subplots()
    layers = sorted({r.layer for r in rows})
    for i, layer in enumerate(layers):
        sel = sorted((r for r in rows if r.layer == layer), key=lambda r: r.epoch)
        epochs = np.array([r.epoch for r in sel])
        errs = np.maximum(np.array([r.errors for r in sel]), 1e-17)  # (E, S)
        name = "output" if layer == layers[-1] else f"W{layer}"
        ax.fill_between(epochs, errs.min(1), errs.max(1), color=f"C{i}", alpha=0.2, lw=0)
        ax.plot(epochs, np.median(errs, axis=1), "o-", color=f"C{i}", ms=3, label=name)
    ax.set(yscale="log", xlabel="epoch", ylabel="‖pred − true‖ / ‖true‖",
           title="matrix form H*W̃*L*ᵀ − HW̃Lᵀ vs expected gradient")
    ax.xaxis.set_major_locator(integer_ticks())
    ax.grid(alpha=0.3)
    ax.legend(handles=[*ax.get_legend_handles_labels()[0],
                       legend_line(color="0.6", lw=6, alpha=0.3, label="min–max over seeds")],
              fontsize=8)
    return save_figure(fig, path)
