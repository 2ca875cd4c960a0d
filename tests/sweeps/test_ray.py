"""``--executor ray`` on a local Ray cluster started once for this module (``num_cpus=2``):
same rows as the local executor, a killed worker is retried, a batch that keeps failing is
recorded and rerun; Ray missing or an unknown executor is a one-line exit 2."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from sweep_helpers import CLI_SET, tiny_spec
from typer.testing import CliRunner

from relulab.cli import app
from relulab.results.query import query
from relulab.sweeps.executors import get_executor
from relulab.sweeps.runner import run_sweep

GRID = ["--grid", "p=0,1", "--seeds", "2", "--max-members", "2"]  # 2 batches of 2 members
KEY = "cell, seed, layer, epoch"
METRICS = ("rho_greedy", "rho_hungarian", "eval_loss", "train_loss")
TASK_TITLE = b"ray::run_on_worker"  # a Ray worker's process title while it runs our task


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def with_steps(steps_per_epoch: int) -> list[str]:
    """CLI_SET with longer epochs (a batch then runs long enough to be caught running)."""
    return [a for a in CLI_SET if "steps_per_epoch" not in a] + [
        f"--set=steps_per_epoch={steps_per_epoch}"]


def sweep_ray(out: Path, *extra: str, settings: list[str] = CLI_SET):
    return CliRunner().invoke(app, ["sweep", "demo", "--out", str(out), "--no-progress",
                                    "--device", "cpu", "--executor", "ray", *GRID, *settings,
                                    *extra])


def rows(root: Path) -> list[dict]:
    return query(root, f"SELECT {KEY}, {', '.join(METRICS)} FROM results "
                       f"ORDER BY {KEY}").to_pylist()


def assert_each_member_once(root: Path) -> None:
    """Every (cell, seed) of GRID has its 3 rows (init + 2 epochs, 1 layer), none twice."""
    got = query(root, "SELECT cell, seed, count(*) AS n FROM results GROUP BY cell, seed "
                      "ORDER BY cell, seed").to_pylist()
    assert [(r["cell"], r["seed"], r["n"]) for r in got] == [
        ("p=0", 0, 3), ("p=0", 1, 3), ("p=1", 0, 3), ("p=1", 1, 3)]


def descends_from_this_process(pid: int, ancestor: int | None = None) -> bool:
    """True if ``pid``'s parent chain reaches ``ancestor`` (default: this test process, whose
    descendants are our Ray cluster's workers)."""
    ancestor = os.getpid() if ancestor is None else ancestor
    while pid > 1:
        if pid == ancestor:
            return True
        status = Path(f"/proc/{pid}/status").read_text()
        pid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("PPid:")))
    return False


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the first worker of this module's Ray cluster seen running a sweep
    batch, once."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.killed: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and not self.killed:
            for proc in Path("/proc").iterdir():
                try:
                    if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(
                            TASK_TITLE) and descends_from_this_process(int(proc.name)):
                        os.kill(int(proc.name), signal.SIGKILL)
                        self.killed.append(int(proc.name))
                        return
                except (OSError, ValueError):
                    continue
            time.sleep(0.05)


class ProgressSpy:
    """Wraps an executor, recording the ``on_progress(member_steps, batch_id)`` calls."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, []

    def run(self, tasks, on_progress=None):
        def spy(member_steps, batch_id=None):
            self.calls.append((batch_id, member_steps))
            on_progress(member_steps, batch_id)

        yield from self.inner.run(tasks, spy)

    def close(self):
        self.inner.close()


def test_ray_gives_the_local_rows_and_streams_progress(ray_cluster, tmp_path):
    spec = tiny_spec(seeds=2, grid=["p=0,1"])  # as GRID: 2 batches of 2 members, 40 steps
    run_sweep(spec, tmp_path / "local", executor=get_executor("local"), max_members=2)
    spy = ProgressSpy(get_executor("ray", progress_every_s=0.0))  # send every step
    summary = run_sweep(spec, tmp_path / "ray", executor=spy, max_members=2, progress=True)
    assert (summary.ran, summary.batches, summary.failed) == (4, 2, [])
    per_batch: dict[str, int] = {}
    for batch_id, member_steps in spy.calls:
        per_batch[batch_id] = per_batch.get(batch_id, 0) + member_steps
    # streamed by batch, all of it (each batch's members x steps) before the batch finished
    assert sorted(per_batch.values()) == [2 * 40, 2 * 40] and None not in per_batch
    local, remote = rows(tmp_path / "local"), rows(tmp_path / "ray")
    assert len(local) == len(remote) == 2 * 2 * 3
    for a, b in zip(local, remote, strict=True):
        assert [a[k] for k in ("cell", "seed", "layer", "epoch")] == \
            [b[k] for k in ("cell", "seed", "layer", "epoch")]
        for metric in METRICS:  # same program; thread counts (summation order) may differ
            if a[metric] is None:  # losses of epoch 0
                assert b[metric] is None
            else:
                assert b[metric] == pytest.approx(a[metric], rel=1e-4, abs=1e-5)
    run = json.loads((tmp_path / "ray" / "manifest.json").read_text())["runs"][-1]
    assert run["executor"] == "ray" and run["status"] == "complete"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers in /proc")
def test_killed_worker_is_retried_and_nothing_is_lost_or_doubled(ray_cluster, tmp_path):
    killer = WorkerKiller()
    killer.start()
    result = sweep_ray(tmp_path, "--retries", "2", settings=with_steps(300))
    killer.stop.set()
    killer.join()
    assert killer.killed, "no worker was running a batch"
    assert result.exit_code == 0, result.output
    assert_each_member_once(tmp_path)
    run = json.loads((tmp_path / "manifest.json").read_text())["runs"][-1]
    assert run["status"] == "complete" and run["batches_written"] == 2


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers in /proc")
def test_batch_that_keeps_failing_is_recorded_and_a_rerun_finishes(ray_cluster, tmp_path):
    killer = WorkerKiller()
    killer.start()
    failed = sweep_ray(tmp_path, "--retries", "0", settings=with_steps(300))
    killer.join()
    assert failed.exit_code == 1, failed.output
    assert "error: 1 batches (2 members) failed; rerun the same command" in failed.output
    assert "WorkerCrashedError" in failed.output and "1 attempts" in failed.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    run = manifest["runs"][-1]
    assert run["status"] == "partial" and run["batches_written"] == 1
    assert [f["members"] for f in run["failed_batches"]] == [2]
    again = sweep_ray(tmp_path, settings=with_steps(300))
    assert again.exit_code == 0, again.output
    assert "2 members already done, 2 run in 1 batches" in again.output
    assert_each_member_once(tmp_path)


def batch_workers(ancestor: int) -> list[int]:
    """Processes below ``ancestor`` running a sweep batch as a Ray task."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(
                    TASK_TITLE) and descends_from_this_process(int(proc.name), ancestor):
                found.append(int(proc.name))
        except (OSError, ValueError, StopIteration):
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers in /proc")
def test_sigterm_to_a_ray_sweep_is_a_clean_interrupt(tmp_path):
    """Ray's core installs its own SIGTERM handler (crash dump, abort); the executor puts the
    sweep's back, so SIGTERM gives exit 130, status interrupted, and no worker left running."""
    import subprocess

    from sweep_helpers import relulab_cmd

    pytest.importorskip("ray")
    long_set = with_steps(100000)
    proc = subprocess.Popen([*relulab_cmd(), "sweep", "demo", "--out", str(tmp_path),
                             "--no-progress", "--device", "cpu", "--executor", "ray", *GRID,
                             *long_set], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not batch_workers(proc.pid) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
        workers = batch_workers(proc.pid)
        assert workers, "no batch started"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "interrupted: finished batches are kept" in output
    run = json.loads((tmp_path / "manifest.json").read_text())["runs"][-1]
    assert run["status"] == "interrupted"
    deadline = time.monotonic() + 30  # the local instance stops with the driver
    while any(_title(w) == TASK_TITLE for w in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [w for w in workers if _title(w) == TASK_TITLE]


def _title(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()[:len(TASK_TITLE)]
    except OSError:
        return b""


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(app, ["sweep", "demo", "--out", str(tmp_path / "s"),
                                      "--executor", "ray", "--no-progress", *CLI_SET])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --executor ray needs Ray")
    assert "pip install -e '.[ray]'" in lines[0]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("extra, message", [
    (["--executor", "bogus"], "unknown executor 'bogus' (known: local, ray)"),
    (["--cpus-per-task", "2"], "--cpus-per-task only apply to --executor ray"),
    (["--executor", "ray", "--cpus-per-task", "0"], "--cpus-per-task must be positive"),
    (["--executor", "ray", "--retries", "-1"], "--retries must be >= 0"),
])
def test_bad_executor_options_are_exit_2(tmp_path, extra, message):
    result = CliRunner().invoke(app, ["sweep", "demo", "--out", str(tmp_path / "s"),
                                      "--no-progress", *CLI_SET, *extra])
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith("error:") and message in result.output
    assert not (tmp_path / "s").exists()


def test_failed_batch_is_recorded_exit_1_and_a_rerun_runs_only_it(tmp_path):
    """The driver's side of failures, without Ray: an executor gives up on the first batch
    (TaskFailure); the other is written, the command exits 1 with a summary; a rerun runs just
    the failed members and every (cell, seed) ends up there once."""
    from relulab.sweeps.executors import EXECUTORS, TaskFailure, batch_members, register_executor

    class GivesUpOnFirst:
        name = "gives-up"

        def run(self, tasks, on_progress=None):
            first, *rest = tasks
            yield TaskFailure(first.batch.batch_id, batch_members(first.batch),
                              "WorkerCrashedError: the worker died", attempts=3)
            yield from get_executor("local").run(rest, on_progress)

        def close(self):
            pass

    register_executor("gives-up", GivesUpOnFirst)
    args = ["sweep", "demo", "--out", str(tmp_path), "--no-progress", "--device", "cpu", *GRID,
            *CLI_SET]
    try:
        failed = CliRunner().invoke(app, [*args, "--executor", "gives-up"])
    finally:
        EXECUTORS.pop("gives-up")
    assert failed.exit_code == 1, failed.output
    assert "2 run in 1 batches" in failed.output
    assert "error: 1 batches (2 members) failed; rerun the same command" in failed.output
    assert "(2 members of p=0, 3 attempts): WorkerCrashedError: the worker died" in failed.output
    run = json.loads((tmp_path / "manifest.json").read_text())["runs"][-1]
    assert run["status"] == "partial" and run["batches_written"] == 1
    (failure,) = run["failed_batches"]
    assert failure["cells"] == ["p=0"] and failure["attempts"] == 3
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "2 members already done, 2 run in 1 batches" in again.output
    assert_each_member_once(tmp_path)


def test_one_batch_per_gpu_by_default_and_workers_resolve_the_device():
    """Without --gpus-per-task a task asks for one GPU when the cluster has any, else none;
    a worker resolves --device auto itself and refuses cuda without a GPU."""
    pytest.importorskip("ray")
    import torch

    from relulab.config import ConfigError
    from relulab.config.grid import plan_batches
    from relulab.sweeps.executors import Task
    from relulab.sweeps.ray_executor import RayExecutor, run_on_worker

    class Cluster:
        def __init__(self, resources):
            self.resources = resources

        def cluster_resources(self):
            return self.resources

    executor = RayExecutor()  # no address: connects only when it has tasks to run
    assert executor._gpus(Cluster({"CPU": 64.0, "GPU": 8.0})) == 1.0
    assert executor._gpus(Cluster({"CPU": 2.0})) == 0.0
    assert RayExecutor(gpus_per_task=0.5)._gpus(Cluster({"GPU": 8.0})) == 0.5
    spec = tiny_spec(seeds=1, grid=["p=0"], epochs="1", steps_per_epoch="2")
    (batch,) = plan_batches(spec.cells(), spec.seeds)
    threads = torch.get_num_threads()
    try:
        out = run_on_worker(Task(batch, device="auto"), threads=1)
        assert out.device == ("cuda" if torch.cuda.is_available() else "cpu")
        assert torch.get_num_threads() == 1 and out.table.num_rows == 1 * 1 * 2
        if not torch.cuda.is_available():
            with pytest.raises(ConfigError, match="no GPU"):
                run_on_worker(Task(batch, device="cuda"), threads=1)
    finally:
        torch.set_num_threads(threads)  # the worker's setting, not this test process's


def test_progress_counts_the_most_any_attempt_reached_and_drops_finished_batches():
    """Workers report totals; a retried attempt restarts from 0, so the driver passes on only
    what exceeds the most reported before (the bar never counts a batch twice)."""
    from relulab.sweeps.ray_executor import _forward

    class Queue:  # ray.util.queue.Queue's two calls used by _forward
        def __init__(self, items):
            self.items = items

        def qsize(self):
            return len(self.items)

        def get_nowait_batch(self, n):
            out, self.items = self.items[:n], self.items[n:]
            return out

    calls = []
    reported = {"a": 0, "b": 0}  # running batches; "gone" finished already
    items = [("a", 30), ("b", 8), ("a", 10), ("gone", 99), ("a", 50), ("b", 8)]
    _forward(Queue(items), reported, lambda n, batch_id: calls.append((batch_id, n)))
    assert calls == [("a", 30), ("b", 8), ("a", 20)]
    assert reported == {"a": 50, "b": 8}
    _forward(Queue([]), reported, lambda n, batch_id: calls.append((batch_id, n)))
    assert len(calls) == 3
