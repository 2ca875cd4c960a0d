"""A finished training run as the CLI shows it (a per-seed table) and writes it (a run folder)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from relulab.cli.common import console
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
