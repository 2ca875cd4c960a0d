"""``relulab theory overlay``: theory against simulation (two-layer flow vs SGD, and the deep
matrix form vs the actual gradient along a training run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relulab.cli.common import console, resolve_device, user_errors
from relulab.cli.theory import (
    DEVICE,
    ROOT_SEED,
    DeviceOpt,
    SeedOpt,
    _listed,
    _table,
    parse_floats,
    parse_ints,
)
from relulab.config import ConfigError
from relulab.experiments import matrix_track as mt
from relulab.experiments import overlay as ov

OV, MT = ov.OverlayConfig, mt.TrackConfig  # their field defaults are the options' defaults
FIGURES = ("overlay_two_layer.png", "overlay_matrix_form.png")  # written under OUT/theory/


def _deviation_table(rows: list[ov.DeviationRow]) -> None:
    text, previous = [], {}
    for r in rows:
        ratio = r.weight_median / previous[r.students] if r.students in previous else None
        previous[r.students] = r.weight_median
        text.append((str(r.students), f"{r.lr:g}", str(r.steps),
                     f"{r.loss_median:.3g} / {r.loss_worst:.3g}",
                     f"{r.weight_median:.3g} / {r.weight_worst:.3g}",
                     "-" if ratio is None else f"{ratio:.2f}", f"{r.angle_median:.3g}"))
    _table("SGD (fresh samples) vs gradient flow from the same init: max over t, "
           "median / worst seed", ("K", "lr η", "steps", "max |ΔJ|", "max ‖ΔW‖/‖W‖",
                                   "ratio to previous η", "max |Δθ| (rad, median)"), text)


def _track_table(rows: list[mt.TrackRow]) -> None:
    table = mt.error_table(rows)
    top = max(table)
    epochs = [e for e, _, _ in table[top]]
    _table("Matrix form vs actual expected gradient: relative error per layer (median over "
           "seeds)", ("weight layer", *[f"ep {e}" for e in epochs]),
           [("output" if layer == top else f"W{layer}", *[f"{m:.3g}" for _, m, _ in vals])
            for layer, vals in table.items()])


def _out_dir(out: Path | None) -> Path | None:
    """``OUT/theory`` (created), checked before anything runs."""
    if out is None:
        return None
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is not a folder")
    folder = out / "theory"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def register(app: typer.Typer) -> None:
    app.command("overlay")(overlay)


@user_errors
def overlay(
    d: Annotated[int, typer.Option("--d", help="input dimension")] = OV.d,
    teachers: Annotated[int, typer.Option(help="teacher nodes M")] = OV.teachers,
    students: Annotated[str, typer.Option(help="student widths K, one run each (K = M: "
                                          "realizable; K > M: over-realized)")] =
        ",".join(map(str, OV.students)),
    lrs: Annotated[str, typer.Option(help="SGD learning rates; each must divide "
                                     "t_max / (records − 1)")] = _listed(OV.lrs),
    batch: Annotated[int, typer.Option(help="fresh samples per SGD step")] = OV.batch,
    t_max: Annotated[float, typer.Option(help="flow time = lr × steps")] = OV.t_max,
    records: Annotated[int, typer.Option(help="record points on [0, t_max]")] = OV.records,
    seeds: Annotated[int, typer.Option(help="seeds (teacher + init each)")] = OV.seeds,
    deep: Annotated[bool, typer.Option(help="also track the deep matrix form")] = True,
    preset: Annotated[str, typer.Option(help="deep part: fc preset")] = MT.preset,
    multi: Annotated[int, typer.Option(help="deep part: student width / teacher")] = MT.multi,
    epochs: Annotated[int, typer.Option(help="deep part: epochs")] = MT.epochs,
    steps: Annotated[int, typer.Option(help="deep part: steps per epoch")] = MT.steps_per_epoch,
    deep_seeds: Annotated[int, typer.Option(help="deep part: seeds")] = MT.seeds,
    seed: SeedOpt = ROOT_SEED,
    device: DeviceOpt = DEVICE,
    out: Annotated[Path | None, typer.Option(help="results folder: figures go to OUT/theory/ "
                                             "(so `relulab report OUT` shows them)")] = None,
) -> None:
    """Theory against simulation: SGD vs the population gradient flow from the same init
    (Tian 2017 two-layer net), deviation as lr shrinks; deep: matrix-form update vs the actual
    expected gradient per layer over epochs (Luck Matters)."""
    cfg = OV(d=d, teachers=teachers, students=tuple(parse_ints(students, "--students", 1)),
             lrs=tuple(parse_floats(lrs, "--lrs")), batch=batch, t_max=t_max, records=records,
             seeds=seeds)
    track_cfg = MT(preset=preset, multi=multi, epochs=epochs, steps_per_epoch=steps,
                   seeds=deep_seeds) if deep else None
    dev = resolve_device(device)
    folder = _out_dir(out)
    variants, rows = ov.overlay(cfg, root_seed=seed)
    _deviation_table(rows)
    track_rows = mt.track(track_cfg, device=dev) if track_cfg is not None else None
    if track_rows is not None:
        _track_table(track_rows)
    if folder is not None:
        from relulab.plots import overlay as plots

        console.print(f"figure written to {plots.overlay_figure(variants, folder / FIGURES[0])}")
        if track_rows is not None:
            path = plots.matrix_track_figure(track_rows, folder / FIGURES[1])
            console.print(f"figure written to {path}")
