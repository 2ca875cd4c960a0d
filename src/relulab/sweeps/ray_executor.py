"""The Ray executor: each batch of a sweep runs as one Ray task, on a local instance or a cluster.

Where results are written: the **driver** writes them. A worker runs :func:`run_task` (no file
I/O) and returns its :class:`~relulab.sweeps.executors.BatchOutput` (an Arrow table, member list and
CPU tensors) through Ray's object store; the driver writes it into the results folder exactly as
with the local executor (one writer holding the folder's lock, one atomic file per finished
batch). So a cluster needs no shared filesystem, workers need no write access, and the resume
guarantees (the results file is the batch's done-marker) are the local executor's.

Failures: a task whose worker process dies (killed, out of memory, node lost) is resubmitted by
Ray up to ``retries`` times. An exception raised by the training itself is not retried (the
same config and seed fail the same way). A task that still fails comes back as a
:class:`~relulab.sweeps.executors.TaskFailure`; the sweep records it, finishes the rest and reports
it, and a rerun runs its members again.

Progress: with a progress callback, workers send ``(batch id, member-steps)`` about once a second
through a Ray queue (a small actor); the driver forwards them while it waits, so the bar moves
mid-batch.

Devices: the worker resolves ``auto`` itself: ``cuda`` when Ray gave the task a GPU, else
``cpu``. On a cluster with GPUs each task asks for one GPU by default (one batch per GPU).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from relulab.config import ConfigError
from relulab.sweeps.executors import (
    BatchOutput,
    ProgressFn,
    Task,
    TaskFailure,
    batch_members,
    run_task,
)

INSTALL_HINT = ("--executor ray needs Ray, which is not installed: "
                "pip install -e '.[ray]' (or pip install 'ray>=2.9')")
DEFAULT_RETRIES = 2  # resubmissions of a task whose worker died
PROGRESS_EVERY_S = 1.0  # a worker sends its progress at most this often
POLL_S = 0.5  # the driver forwards progress at least this often while it waits


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


def progress_sender(queue: Any, batch_id: str, every_s: float
                    ) -> tuple[Callable[[int], None], Callable[[], None]]:
    """``(on_progress, flush)``: ``on_progress`` for :func:`run_task` puts ``(batch_id,
    member-steps done so far)`` on the Ray ``queue`` at most every ``every_s`` seconds without
    waiting; ``flush`` sends the total and waits until everything sent is queued (so the driver,
    once it sees the task done, finds all of the task's progress in the queue). Totals, not
    increments: a retried attempt starts again from 0 and the driver counts only the maximum."""
    done, last, sent = [0, 0], [time.monotonic()], []  # [member-steps, sent so far]

    def put() -> None:
        sent.append(queue.actor.put_nowait.remote((batch_id, done[0])))
        done[1], last[0] = done[0], time.monotonic()

    def send(member_steps: int) -> None:
        done[0] += member_steps
        if time.monotonic() - last[0] >= every_s:
            put()

    def flush() -> None:
        if done[0] > done[1]:
            put()
        import ray

        ray.get(sent)

    return send, flush


def run_on_worker(task: Task, threads: int, queue: Any = None,
                  every_s: float = PROGRESS_EVERY_S) -> BatchOutput:
    """What a Ray task runs: resolve the device here (Ray sets the visible GPUs), then
    :func:`run_task` with ``threads`` torch threads (the task's CPUs), sending progress to
    ``queue`` when there is one."""
    import torch

    device = task.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda but this Ray task has no GPU (use --gpus-per-task 1)")
    torch.set_num_threads(threads)
    if queue is None:
        return run_task(dataclasses.replace(task, device=device))
    on_progress, flush = progress_sender(queue, task.batch.batch_id, every_s)
    out = run_task(dataclasses.replace(task, device=device), on_progress)
    flush()
    return out


def one_line(exc: BaseException) -> str:
    """A Ray error as one line: the training's own exception when there is one."""
    cause = getattr(exc, "cause", None)
    err = cause if isinstance(cause, BaseException) else exc
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")


class RayExecutor:
    """Runs each task as a Ray task (``num_cpus=cpus_per_task``, ``num_gpus=gpus_per_task``),
    yielding outputs as they finish. Connects to ``address`` (``auto``, ``HOST:PORT`` or
    ``ray://HOST:PORT``) when constructed; without one, on the first non-empty ``run``, to the
    Ray instance this process already started, or else to a new local instance sized to the
    machine (so a resume with nothing left to run starts nothing)."""

    name = "ray"
    resolves_device = True  # the sweep passes --device as given; workers resolve "auto"

    def __init__(self, address: str | None = None, cpus_per_task: int = 1,
                 gpus_per_task: float | None = None, retries: int = DEFAULT_RETRIES,
                 progress_every_s: float = PROGRESS_EVERY_S):
        if cpus_per_task < 1:
            raise ConfigError(f"--cpus-per-task must be positive, got {cpus_per_task}")
        if gpus_per_task is not None and gpus_per_task < 0:
            raise ConfigError(f"--gpus-per-task must be >= 0, got {gpus_per_task}")
        if retries < 0:
            raise ConfigError(f"--retries must be >= 0, got {retries}")
        self.address, self.cpus_per_task = address, cpus_per_task
        self.gpus_per_task, self.retries = gpus_per_task, retries
        self.progress_every_s = progress_every_s
        self._ray = import_ray()
        self._started = False  # True when this executor started Ray (and so shuts it down)
        self._pending: dict[Any, Task] = {}  # tasks submitted and not yet yielded
        if address is not None:  # a wrong address fails before the sweep writes anything
            self._connect()

    def _connect(self) -> Any:
        ray = self._ray
        if ray.is_initialized():
            return ray
        handlers = _python_signal_handlers()
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a new local instance"
            raise ConfigError(f"cannot start Ray at {where}: {one_line(exc)}") from None
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        self._started = True
        return ray

    def _gpus(self, ray: Any) -> float:
        if self.gpus_per_task is not None:
            return self.gpus_per_task
        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def run(self, tasks: Sequence[Task], on_progress: ProgressFn | None = None
            ) -> Iterator[BatchOutput | TaskFailure]:
        """Submit every task, then yield each output (or failure) as it finishes."""
        if not tasks:
            return
        ray = self._connect()
        remote = ray.remote(run_on_worker).options(
            num_cpus=self.cpus_per_task, num_gpus=self._gpus(ray), max_retries=self.retries,
            retry_exceptions=False)
        queue = None
        if on_progress is not None:
            from ray.util.queue import Queue

            queue = Queue(actor_options={"num_cpus": 0})
        pending = {remote.remote(task, self.cpus_per_task, queue, self.progress_every_s): task
                   for task in tasks}
        self._pending = pending
        reported = {t.batch.batch_id: 0 for t in tasks}  # running batch -> steps passed on
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1,
                                    timeout=None if queue is None else POLL_S)
                if queue is not None:  # before the finished tasks leave `reported`
                    _forward(queue, reported, on_progress)
                for ref, task in [(ref, pending.pop(ref)) for ref in ready]:
                    reported.pop(task.batch.batch_id, None)
                    yield self._output(ray, ref, task)
        finally:
            for ref in pending:  # the driver stopped early (error, Ctrl-C): drop the rest
                ray.cancel(ref, force=True)
            if queue is not None:
                queue.shutdown()

    def _output(self, ray: Any, ref: Any, task: Task) -> BatchOutput | TaskFailure:
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as exc:
            attempts = 1 + (self.retries if _worker_died(ray, exc) else 0)
            return TaskFailure(task.batch.batch_id, batch_members(task.batch), one_line(exc),
                               attempts)

    def close(self) -> None:
        """Cancel what is still running (the driver stopped early), then, if this executor
        started Ray or connected to a cluster, disconnect (a local instance stops with it)."""
        for ref in self._pending:
            self._ray.cancel(ref, force=True)
        self._pending = {}
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


def _python_signal_handlers() -> dict[int, Any]:
    """This process's Python SIGINT/SIGTERM handlers, to put back after ``ray.init``: Ray's
    core installs its own (a crash dump and abort on SIGTERM), which would bypass the sweep's
    clean interrupt (manifest ``interrupted``, exit 130)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    return {s: h for s, h in handlers.items() if h is not None}


def _forward(queue: Any, reported: dict[str, int], on_progress: Callable[..., None]) -> None:
    """Pass the workers' queued totals to ``on_progress(new member_steps, batch_id)``: for each
    batch in ``reported`` (the running ones, with what was passed on so far, updated here) only
    what exceeds the most reported before; reports of finished batches are dropped."""
    size = queue.qsize()
    for batch_id, total in queue.get_nowait_batch(size) if size else []:
        if batch_id in reported and total > reported[batch_id]:
            on_progress(total - reported[batch_id], batch_id)
            reported[batch_id] = total


def _worker_died(ray: Any, exc: BaseException) -> bool:
    """True for errors Ray retries (the worker or its node died), not the task's own."""
    died = tuple(getattr(ray.exceptions, n) for n in ("WorkerCrashedError", "NodeDiedError",
                                                      "OutOfMemoryError")
                 if hasattr(ray.exceptions, n))
    return isinstance(exc, died)
