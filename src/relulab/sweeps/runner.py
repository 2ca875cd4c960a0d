"""Sweeps: a preset times a grid of overrides (:mod:`relulab.config.grid`), run as batched groups,
resumable.

Each finished batch is written as one Parquet file (the file is its own done-marker), so a
killed sweep loses at most the batches in flight and a rerun skips every finished member.
Batches run through an :class:`relulab.sweeps.executors.Executor`; only this driver writes the
results folder (:class:`relulab.results.store.SweepStore`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relulab.config.grid import DEFAULT_MAX_MEMBERS, Batch, Cell, SweepSpec, plan_batches
from relulab.config.ids import iso_time, json_hash
from relulab.results.store import SweepStore, versions
from relulab.sweeps.executors import Executor, Task, TaskFailure


@dataclass
class SweepSummary:
    root: Path
    cells: int  # cells in the grid
    members: int  # (cell, seed) pairs in the grid
    skipped: int  # members already finished before this invocation
    ran: int  # members run now
    batches: int  # batches run now
    seconds: float
    stale: int = 0  # earlier invocations found still marked running (killed), marked stale
    failed: list[dict[str, Any]] = field(default_factory=list)  # batches given up on, see
    # _Invocation.fail; their members are not in `ran` and a rerun runs them again


class _Invocation:
    """One call of :func:`run_sweep` on a locked store: what is left to run, and this
    invocation's entry in the manifest (``run``), kept up to date as batches finish."""

    def __init__(self, spec: SweepSpec, cells: Sequence[Cell], store: SweepStore):
        self.spec, self.cells, self.store = spec, list(cells), store
        self.manifest: dict[str, Any] = {}
        self.run: dict[str, Any] = {}
        self.batches: list[Batch] = []
        self.left: dict[str, int] = {}  # cell -> members not finished yet
        self.skipped = 0
        self.stale = 0

    def plan(self, max_members: int) -> None:
        """Check the cells against the folder, clean up leftovers, plan unfinished members."""
        cell_dicts = [c.to_dict() for c in self.cells]
        self.store.check_cells(cell_dicts)
        self.manifest = self.store.read_manifest()
        self.store.cleanup()
        done = {(m["cell"], int(m["seed"])) for m in self.store.finished_members()}
        seeds = self.spec.seeds
        self.batches = plan_batches(self.cells, seeds, done, max_members)
        self.left = {c.name: sum((c.name, s) not in done for s in seeds) for c in self.cells}
        self.skipped = len(self.cells) * len(seeds) - sum(self.left.values())
        self.store.write_cells(cell_dicts)

    def start(self, executor: Executor, device: str, max_members: int,
              command: str | None) -> None:
        """Append this invocation to the manifest (status ``running``)."""
        self.run.update({
            "command": command if command is not None else " ".join(sys.argv),
            "started_at": iso_time(), "ended_at": None, "status": "running",
            "device": device, "executor": executor.name, "versions": versions(),
            "spec": self.spec.to_dict(), "max_members": max_members,
            "batches_planned": len(self.batches),
            "members_planned": sum(b.size for b in self.batches),
            "members_skipped": self.skipped, "batches_written": 0})
        manifest = self.manifest
        for old in manifest.get("runs", []):  # we hold the lock: nobody else is running
            if old.get("status") == "running":
                old.update(status="stale", noticed_at=iso_time(),
                           note="ended without recording its end (killed or lost power)")
                self.stale += 1
        manifest.setdefault("cells", {}).update({c.name: c.config_hash for c in self.cells})
        manifest["runs"] = [*manifest.get("runs", []), self.run]
        manifest.update(preset=self.spec.preset, grid=self.spec.grid.to_dict(),
                        config_hash=json_hash(sorted(manifest["cells"].items())))
        self.store.write_manifest(manifest)

    def execute(self, executor: Executor, device: str, save_weights: bool,
                progress: bool) -> None:
        """Run every planned batch, writing each as it comes back (any order)."""
        from tqdm.auto import tqdm

        cells_done = sum(v == 0 for v in self.left.values())
        bar = tqdm(total=sum(b.size * b.total_steps for b in self.batches),
                   disable=not progress, unit=" seed-steps", unit_scale=True, mininterval=1.0,
                   dynamic_ncols=True, desc=f"cells {cells_done}/{len(self.cells)}")
        streamed: dict[str | None, int] = {}  # member-steps reported per batch in flight

        def on_progress(member_steps: int, batch_id: str | None = None) -> None:
            streamed[batch_id] = streamed.get(batch_id, 0) + member_steps
            bar.update(member_steps)

        def finished(batch: Batch) -> None:  # the bar gets the rest of the batch's steps
            reported = streamed.pop(batch.batch_id, 0) + streamed.pop(None, 0)
            bar.update(max(batch.size * batch.total_steps - reported, 0))

        tasks = [Task(b, device, save_weights, self.spec.preset) for b in self.batches]
        by_id = {b.batch_id: b for b in self.batches}
        try:
            for out in executor.run(tasks, on_progress if progress else None):
                batch = by_id[out.batch_id]
                finished(batch)
                if isinstance(out, TaskFailure):
                    self.fail(out)
                    continue
                self.store.write_batch(out.batch_id, out.table, out.members,
                                       weights=out.weights,
                                       weights_meta=out.weights_meta, info={
                                           "seconds": out.seconds, "started_at": out.started_at,
                                           "finished_at": out.finished_at, "device": out.device})
                for m in out.members:
                    self.left[m["cell"]] -= 1
                    cells_done += self.left[m["cell"]] == 0
                bar.set_description(f"cells {cells_done}/{len(self.cells)}")
                self.run["batches_written"] += 1
                self.store.write_manifest(self.manifest)
        finally:
            bar.close()

    def fail(self, failure: TaskFailure) -> None:
        """Record a batch the executor gave up on (nothing of it is written)."""
        self.run.setdefault("failed_batches", []).append({
            "batch_id": failure.batch_id, "members": len(failure.members),
            "cells": sorted({m["cell"] for m in failure.members}),
            "attempts": failure.attempts, "error": failure.error})
        self.store.write_manifest(self.manifest)

    def end(self, status: str, error: str | None = None) -> None:
        """Record the end of this invocation (``complete``, ``partial`` when the executor gave
        up on some batches, ``interrupted`` or ``failed``)."""
        if status == "complete" and self.run.get("failed_batches"):
            status = "partial"
        self.run.update(status=status, ended_at=iso_time())
        if error is not None:
            self.run["error"] = error
        self.store.write_manifest(self.manifest)


def run_sweep(spec: SweepSpec, root: str | os.PathLike, *, executor: Executor,
              device: str = "cpu", max_members: int = DEFAULT_MAX_MEMBERS,
              save_weights: bool = False, progress: bool = False,
              command: str | None = None) -> SweepSummary:
    """Run (or resume) ``spec`` into ``root``: skip finished members, run the rest through
    ``executor``, write each finished batch atomically. Everything is validated before the
    first write (ConfigError / StoreError), so bad input leaves existing results untouched."""
    t0 = time.perf_counter()
    cells = spec.cells()
    store = SweepStore.open(root)
    inv = _Invocation(spec, cells, store)
    try:
        inv.plan(max_members)
        inv.start(executor, device, max_members, command)
        inv.execute(executor, device, save_weights, progress)
        inv.end("complete")
        failed = inv.run.get("failed_batches", [])
        return SweepSummary(store.root, len(cells), len(cells) * len(spec.seeds), inv.skipped,
                            sum(b.size for b in inv.batches) - sum(f["members"] for f in failed),
                            len(inv.batches) - len(failed), time.perf_counter() - t0,
                            stale=inv.stale, failed=failed)
    except BaseException as exc:
        if inv.run.get("status") == "running":
            interrupted = isinstance(exc, KeyboardInterrupt | SystemExit)
            try:
                inv.end("interrupted" if interrupted else "failed",
                        None if interrupted else f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001  (keep the original error)
                pass
        raise
    finally:
        store.close()
