"""A finished training run as the CLI shows it (a per-seed table) and writes it (a run folder)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from relulab.cli.common import console
from relulab.results.store import ensure_dir, manifest, write_json, write_parquet
from relulab.training.engine import TrainResult


def save_run(result: TrainResult, out: Path, extra_rows: dict[str, list[dict]] | None = None
             ) -> None:
    """Write config, manifest, per-epoch scalars, statistics and the final teacher and
    student (``weights.safetensors``: every tensor and the metadata that rebuilds them, see
    :mod:`relulab.nets.weights`) of a finished run under ``out``."""
    from safetensors.torch import save_file

    from relulab.results.store import atomic_write
    from relulab.sweeps.executors import final_weights, final_weights_metadata

    ensure_dir(out)
    weights, meta = final_weights(result), final_weights_metadata(result)
    atomic_write(out / "weights.safetensors", lambda tmp: save_file(weights, tmp, metadata=meta))
    write_parquet(out / "scalars.parquet", result.scalars)
    for name, rows in (extra_rows or {}).items():
        if rows:
            write_parquet(out / f"{name}.parquet", rows)
    write_json(out / "config.json", result.cfg.to_dict())
    write_json(out / "manifest.json", manifest(
        result.cfg.to_dict(), device=result.device, seeds=result.seeds,
        config_hash=result.cfg.hash(), steps=result.steps, seconds=result.seconds,
        status="complete",
        diverged=[int(s) for s, d in zip(result.seeds, result.diverged.tolist(), strict=True)
                  if d]))



def print_run_table(result: TrainResult, title: str) -> None:
    """Per seed: final train and eval loss, diverged or not."""
    table = Table(title=title)
    for col in ("seed", "train loss", "eval loss", "status"):
        table.add_column(col)
    for i, s in enumerate(result.seeds):
        table.add_row(str(s), f"{float(result.train_loss[i]):.4g}",
                      f"{float(result.eval_loss[i]):.4g}",
                      "diverged" if bool(result.diverged[i]) else "ok")
    console.print(table)
