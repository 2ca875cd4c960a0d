"""A finished training run as the CLI shows it (a per-seed table) and writes it (a run folder)."""

from __future__ import annotations

from pathlib import Path

from relulab.cli.output import emit_table
from relulab.results.store import ensure_dir, manifest, write_json, write_parquet
from relulab.training.engine import TrainResult


def save_run(result: TrainResult, out: Path, extra_rows: dict[str, list[dict]] | None = None
             ) -> None:
    """Write config, manifest, per-epoch scalars, statistics and the final teacher and
    student weights (``weights.safetensors``) of a finished run under ``out``."""
    from safetensors.torch import save_file

    from relulab.results.store import atomic_write
    from relulab.sweeps.executors import final_weights

    ensure_dir(out)
    weights = final_weights(result)
    atomic_write(out / "weights.safetensors", lambda tmp: save_file(weights, tmp))
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



def print_run_table(result: TrainResult, title: str, fmt: str = "auto") -> None:
    """Per seed: final train and eval loss, diverged or not."""
    emit_table(["seed", "train loss", "eval loss", "status"],
               [[int(s), float(result.train_loss[i]), float(result.eval_loss[i]),
                 "diverged" if bool(result.diverged[i]) else "ok"]
                for i, s in enumerate(result.seeds)], title, fmt, floatfmt=".4g")
