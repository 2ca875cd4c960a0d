"""``relulab train`` and ``relulab presets``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from relulab.cli.common import console, resolve_device, user_errors
from relulab.config import ConfigError, parse_set_args, with_overrides
from relulab.engine import TrainResult, train
from relulab.presets import PRESETS, get_preset
from relulab.real.config import REAL_PRESETS
from relulab.stats import StatsRecorder
from relulab.store import check_writable, ensure_dir, manifest, write_json, write_parquet


def save_run(result: TrainResult, out: Path, extra_rows: dict[str, list[dict]] | None = None
             ) -> None:
    """Write config, manifest and per-epoch scalars of a finished run under ``out``."""
    ensure_dir(out)
    write_parquet(out / "scalars.parquet", result.scalars)
    for name, rows in (extra_rows or {}).items():
        if rows:
            write_parquet(out / f"{name}.parquet", rows)
    write_json(out / "config.json", result.cfg.to_dict())
    write_json(out / "manifest.json", manifest(
        result.cfg.to_dict(), device=result.device, seeds=result.seeds,
        config_hash=result.cfg.hash(), steps=result.steps, seconds=result.seconds,
        diverged=[int(s) for s, d in zip(result.seeds, result.diverged.tolist(), strict=True)
                  if d]))


@user_errors
def train_cmd(
    preset: Annotated[str, typer.Option("--preset", "-p", help="preset name")] = "demo",
    seeds: Annotated[int, typer.Option(help="number of seeds S (0..S-1)")] = 4,
    epochs: Annotated[int | None, typer.Option(help="override epochs")] = None,
    steps: Annotated[int | None, typer.Option(help="total steps (instead of epochs)")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    out: Annotated[Path | None, typer.Option(help="write the run under this folder")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override key=value (e.g. multi=5, optim.lr=0.05)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    stats_every: Annotated[int | None, typer.Option(
        help="statistics cadence in epochs, plus init and end (0 = only those; "
             "default: the config's stats_every)")] = None,
    data_root: Annotated[Path | None, typer.Option(
        help="real-cifar10-* presets: folder holding cifar-10-batches-bin/")] = None,
) -> None:
    """Train S students against the preset's teachers; print a per-seed summary.
    real-* presets first train (and cache under OUT/teachers) a teacher on a real data set."""
    if preset in REAL_PRESETS:
        from relulab.cli.real import train_real

        return train_real(preset, seeds, epochs, steps, device, out, set_ or [], progress,
                          stats_every, data_root)
    cfg = get_preset(preset)
    overrides: dict[str, object] = dict(parse_set_args(set_ or []))
    if epochs is not None:
        overrides["optim.epochs"] = str(epochs)
    if stats_every is not None:
        overrides["stats_every"] = str(stats_every)
    cfg = with_overrides(cfg, overrides)
    if seeds < 1:
        raise ConfigError(f"--seeds must be positive, got {seeds}")
    if steps is not None and steps < 0:
        raise ConfigError(f"--steps must be >= 0, got {steps}")
    dev = resolve_device(device)
    if out is not None:
        check_writable(out)  # fail before training, not after it
    recorder = StatsRecorder()
    result = train(cfg, range(seeds), device=dev, progress=progress, max_steps=steps,
                   callbacks=[recorder])
    table = Table(title=f"{preset}: {result.steps} steps on {dev} in {result.seconds:.1f}s")
    for col in ("seed", "train loss", "eval loss", "status"):
        table.add_column(col)
    for i, s in enumerate(result.seeds):
        table.add_row(str(s), f"{float(result.train_loss[i]):.4g}",
                      f"{float(result.eval_loss[i]):.4g}",
                      "diverged" if bool(result.diverged[i]) else "ok")
    console.print(table)
    recorder.print_summary(console)
    if out is not None:
        save_run(result, out, recorder.tables())
        console.print(f"run written to {out}")


def presets() -> None:
    """List the presets, one line each."""
    for p in PRESETS.values():
        typer.echo(f"{p.name:16s} {p.summary}")
    for name, (summary, _) in REAL_PRESETS.items():
        typer.echo(f"{name:16s} {summary}")


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_cmd)
    app.command()(presets)
