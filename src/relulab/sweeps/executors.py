"""Executors: where a sweep's batches run, and the one function they all run.

:func:`run_task` trains one batch of ``(cell, seed)`` members as a single program and returns
its rows (:class:`BatchOutput`); it does no file I/O. The sweep driver hands an executor a list
of :class:`Task` and writes each output as it comes back, so an executor never touches the
results folder. Add one by registering a factory: ``register_executor("mine", MyExecutor)``;
``--executor mine`` then finds it. It only has to run :func:`run_task` on each task (anywhere;
tasks hold frozen dataclasses and outputs Arrow tables and CPU tensors) and yield the outputs in
any order, or a :class:`TaskFailure` for a task it gave up on (the sweep records it and goes on).
``ray`` (:mod:`relulab.sweeps.ray_executor`) is a plugin: registered by its import path, and
imported (with ray) only when asked for.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from relulab.config import ConfigError
from relulab.config.grid import Batch
from relulab.config.ids import iso_time
from relulab.nets.weights import net_tensors, weights_metadata
from relulab.results.schema import result_rows
from relulab.results.store import results_table
from relulab.training.engine import StatsContext, train_group

# on_progress(member_steps, batch_id=None): member-steps completed since the last call, of the
# batch ``batch_id`` (None: the one batch in flight, for executors that run one at a time)
ProgressFn = Callable[..., None]


# ---------------------------------------------------------------------------------------------
# Running one batch (what every executor runs; no file I/O here)


@dataclass(frozen=True)
class Task:
    """A batch plus how to run it; everything an executor (local or remote) needs."""

    batch: Batch
    device: str = "cpu"
    save_weights: bool = False
    preset: str = ""  # recorded in every row


@dataclass
class BatchOutput:
    """A finished batch: its rows as an Arrow table and, optionally, the final weights."""

    batch_id: str
    table: pa.Table
    members: list[dict[str, Any]]  # [{"cell", "seed", "config_hash"}] in member order
    seconds: float
    started_at: str
    finished_at: str
    device: str
    weights: dict[str, Any] | None = None  # name -> (S, ...) tensor
    weights_meta: dict[str, str] | None = None  # safetensors metadata of ``weights``
    loop_seconds: float | None = None  # the engine's training loop (no set-up)


def _recorder() -> Any:
    from relulab.training.recorder import StatsRecorder

    return StatsRecorder()


def run_task(task: Task, on_progress: ProgressFn | None = None,
             recorder_factory: Callable[[], Any] = _recorder) -> BatchOutput:
    """Train the batch's members as one program, record statistics, return the rows.

    The recorder is any engine callback whose ``tables()["layers"]`` rows carry ``member``
    (the index on the leading axis), so equal seed values of different cells stay apart.
    """
    batch = task.batch
    cfgs = [batch.cells[i].config for i, _ in batch.members]
    seeds = [s for _, s in batch.members]
    recorder = recorder_factory()
    last_step = [0]

    def record(ctx: StatsContext) -> None:
        recorder(ctx)
        if on_progress is not None and ctx.step > last_step[0]:
            on_progress((ctx.step - last_step[0]) * len(seeds))
            last_step[0] = ctx.step

    start = time.time()
    result = train_group(cfgs, seeds, device=task.device, callbacks=[record])
    end = time.time()
    members = batch_members(batch)
    timing = {"batch_id": batch.batch_id, "batch_seconds": result.seconds,
              "batch_members": len(seeds), "batch_steps": result.steps,
              "started_at": iso_time(start), "finished_at": iso_time(end), "device": result.device}
    table = results_table(result_rows(batch, recorder.tables()["layers"], result.rows,
                                      timing, task.preset))
    weights = final_weights(result) if task.save_weights else None
    meta = final_weights_metadata(result) if task.save_weights else None
    return BatchOutput(batch.batch_id, table, members, result.seconds, iso_time(start),
                       iso_time(end), result.device, weights, meta, result.loop_seconds)


def final_weights(result: Any) -> dict[str, Any]:
    """Every tensor of the final teacher and student on the CPU: ``{"teacher.weight.0": (S,
    ...), ..., "student.bias.L", "student.bn_mean.0", "student.bn_weight.0", ...}`` (BN running
    statistics and affine scale and shift when the nets have them; see
    :mod:`relulab.nets.weights`)."""
    return net_tensors(result.teacher, "teacher") | net_tensors(result.student, "student")


def final_weights_metadata(result: Any) -> dict[str, str]:
    """Safetensors metadata of :func:`final_weights`: ``{"relulab": JSON}`` with the config
    hash (of each member too), the seeds and both nets' kind, activation, BatchNorm, layer
    kinds and dtype, so that :func:`relulab.nets.weights.net_from_weights` rebuilds them."""
    cfgs = list(getattr(result, "cfgs", None) or [result.cfg] * len(result.seeds))
    return weights_metadata(result.teacher, result.student, config_hash=result.cfg.hash(),
                            config_hashes=[c.hash() for c in cfgs],
                            seeds=[int(s) for s in result.seeds])


@dataclass(frozen=True)
class TaskFailure:
    """A task an executor gave up on (after its retries): nothing of it is written, so a rerun
    of the sweep runs its members again."""

    batch_id: str
    members: list[dict[str, Any]]  # [{"cell", "seed", "config_hash"}] as in BatchOutput
    error: str  # one line
    attempts: int = 1


def batch_members(batch: Batch) -> list[dict[str, Any]]:
    """``[{"cell", "seed", "config_hash"}]`` of a batch, in member order."""
    return [{"cell": batch.cells[i].name, "seed": s, "config_hash": batch.cells[i].config_hash}
            for i, s in batch.members]


# ---------------------------------------------------------------------------------------------
# Executors


class Executor(Protocol):
    name: str

    def run(self, tasks: Sequence[Task], on_progress: ProgressFn | None = None
            ) -> Iterator[BatchOutput | TaskFailure]:
        """Run every task, yielding each output (or failure) as soon as it is done (any order).
        ``on_progress(member_steps)`` may be called while a task runs (local executors)."""
        ...

    def close(self) -> None:
        """Release workers (idempotent)."""
        ...


class LocalExecutor:
    """Runs the tasks one after another in this process (each task already batches its
    members on the leading tensor axis, which is what uses the cores or the GPU)."""

    name = "local"

    def run(self, tasks: Sequence[Task], on_progress: ProgressFn | None = None
            ) -> Iterator[BatchOutput]:
        for task in tasks:
            yield run_task(task, on_progress)

    def close(self) -> None:
        pass


# name -> factory, or "module:attribute" of a plugin's factory (imported when first asked for)
EXECUTORS: dict[str, Callable[..., Executor] | str] = {
    "local": LocalExecutor, "ray": "relulab.sweeps.ray_executor:RayExecutor"}


def register_executor(name: str, factory: Callable[..., Executor] | str) -> None:
    """Make ``--executor name`` construct ``factory(**options)``; ``factory`` may be given as
    ``"module:attribute"`` so that its module is imported only when the executor is used."""
    EXECUTORS[name] = factory


def get_executor(name: str, **options: Any) -> Executor:
    """A new executor by name (ConfigError naming the known ones otherwise)."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor '{name}' (known: {', '.join(sorted(EXECUTORS))})")
    factory = EXECUTORS[name]
    if isinstance(factory, str):
        module, attr = factory.split(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**options)
