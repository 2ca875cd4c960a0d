"""A single training run written in a sweep's layout (one cell, no grid), so that every reader
of a results folder (``relulab query``, ``report``, ``plot``, :func:`relulab.load`) takes a
``train --out`` folder and a sweep folder alike."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relulab.config.grid import Batch, Grid, SweepSpec
from relulab.config.ids import iso_time
from relulab.results.schema import result_rows
from relulab.results.store import SweepStore, results_table, versions, write_json, write_parquet
from relulab.sweeps.executors import batch_members, final_weights, final_weights_metadata


def as_batch(cfg: Any, seeds: Sequence[int]) -> Batch:
    """The one-cell batch of ``seeds`` of ``cfg`` (a sweep's base cell: no grid point)."""
    (base,) = SweepSpec("", cfg, Grid(), tuple(seeds)).cells()
    return Batch((base,), tuple((0, int(s)) for s in seeds))


def write_run(out: str | os.PathLike, result: Any, layer_rows: list[dict], *, preset: str = "",
              overrides: Sequence[tuple[str, str]] = (),
              extra_rows: dict[str, list[dict]] | None = None,
              command: str | None = None) -> Path:
    """Write the finished run ``result`` (a :class:`relulab.training.engine.TrainResult`) with
    its statistics ``layer_rows`` under ``out`` as a one-cell sweep: ``manifest.json``,
    ``cells/``, ``results/batch-*.parquet``, ``weights/batch-*.safetensors``, plus the run's
    ``config.json`` (the input of ``--config``) and any ``extra_rows`` tables as Parquet."""
    batch = as_batch(result.cfg, result.seeds)
    (cell,) = batch.cells
    timing = {"batch_id": batch.batch_id, "batch_seconds": result.seconds,
              "batch_members": len(result.seeds), "batch_steps": result.steps,
              "started_at": iso_time(time.time() - result.seconds), "finished_at": iso_time(),
              "device": result.device}
    table = results_table(result_rows(batch, layer_rows, result.rows, timing, preset))
    spec = SweepSpec(preset, result.cfg, Grid(), tuple(result.seeds), tuple(overrides))
    with SweepStore.open(out) as store:
        store.check_cells([cell.to_dict()])
        store.write_cells([cell.to_dict()])
        store.write_batch(batch.batch_id, table, batch_members(batch), timing,
                          final_weights(result), final_weights_metadata(result))
        diverged = [int(s) for s, d in zip(result.seeds, result.diverged.tolist(), strict=True)
                    if d]
        store.write_manifest({
            "preset": preset, "grid": {}, "cells": {cell.name: cell.config_hash},
            "config_hash": cell.config_hash, "source": "train",
            "run_config_hash": cell.config_hash, "device": result.device,
            "versions": versions(),
            "seeds": [int(s) for s in result.seeds], "steps": result.steps,
            "runs": [{"command": command if command is not None else " ".join(sys.argv),
                      "started_at": timing["started_at"], "ended_at": iso_time(),
                      "status": "complete", "device": result.device, "executor": "train",
                      "versions": versions(), "spec": spec.to_dict(), "steps": result.steps,
                      "seconds": result.seconds, "diverged": diverged,
                      "batches_written": 1, "members_planned": len(result.seeds)}]})
    root = Path(out)
    write_json(root / "config.json", result.cfg.to_dict())
    for name, rows in (extra_rows or {}).items():
        if rows:
            write_parquet(root / f"{name}.parquet", rows)
    return root
