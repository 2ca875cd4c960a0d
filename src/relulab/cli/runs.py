"""A finished training run as the CLI shows it (a per-seed table) and writes it (a run folder)."""

from __future__ import annotations

from pathlib import Path

from relulab.cli.output import emit_table
from relulab.sweeps.single import write_run
from relulab.training.engine import TrainResult


def save_run(result: TrainResult, out: Path, layer_rows: list[dict], *, preset: str = "",
             overrides: dict[str, str] | None = None,
             extra_rows: dict[str, list[dict]] | None = None) -> None:
    """Write a finished run under ``out`` in the layout of a one-cell sweep (manifest, cell,
    results and weights; its ``config.json``), so ``query``, ``report``, ``plot`` and
    :func:`relulab.load` read it as they read a sweep."""
    write_run(out, result, layer_rows, preset=preset,
              overrides=tuple((overrides or {}).items()), extra_rows=extra_rows)


def print_run_table(result: TrainResult, title: str, fmt: str = "auto") -> None:
    """Per seed: final train and eval loss, diverged or not."""
    emit_table(["seed", "train loss", "eval loss", "status"],
               [[int(s), float(result.train_loss[i]), float(result.eval_loss[i]),
                 "diverged" if bool(result.diverged[i]) else "ok"]
                for i, s in enumerate(result.seeds)], title, fmt, floatfmt=".4g")
