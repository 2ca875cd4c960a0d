"""Sweeps stopped by a signal, killed, or whose folder stops accepting writes: the manifest
says what happened, nothing half-written is read back, and a rerun completes the grid with
no member lost or duplicated."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sweep_helpers import CLI_SET, relulab_cmd, tiny_spec

from relulab.results import store as store_module
from relulab.results.query import query
from relulab.results.store import SweepStore
from relulab.sweeps.executors import get_executor
from relulab.sweeps.runner import run_sweep

LOCAL = get_executor("local")
GRID = ["--grid", "m=2,3", "--grid", "p=0,1"]


def runs(out) -> list[dict]:
    return json.loads((out / "manifest.json").read_text())["runs"]


def complete_rows(out, members: int = 12) -> None:
    """Every member once, every recorded epoch once (init + 2 epochs, one layer)."""
    rows = query(out, "SELECT count(*) AS n, count(DISTINCT (cell, seed, layer, epoch)) AS d, "
                 "count(DISTINCT (cell, seed)) AS m FROM results").to_pylist()[0]
    assert rows == {"n": 3 * members, "d": 3 * members, "m": members}


def test_sigterm_marks_the_run_interrupted_and_a_rerun_finishes(tmp_path):
    out = tmp_path / "s"
    cmd = [*relulab_cmd(), "sweep", "demo", *GRID, "--seeds", "3", "--out", str(out),
           "--max-members", "2", "--no-progress", "--device", "cpu", *CLI_SET]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 120
    while len(SweepStore(out).batch_files()) < 1 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "interrupted" in stdout
    assert runs(out)[-1]["status"] == "interrupted" and runs(out)[-1]["ended_at"]
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [r["status"] for r in runs(out)] == ["interrupted", "complete"]
    complete_rows(out)


def test_a_killed_run_left_running_is_marked_stale(tmp_path):
    run_sweep(tiny_spec(seeds=1, grid=["p=0"]), tmp_path, executor=LOCAL)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["runs"][-1].update(status="running", ended_at=None)  # as SIGKILL leaves it
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    summary = run_sweep(tiny_spec(seeds=2, grid=["p=0"]), tmp_path, executor=LOCAL)
    assert summary.stale == 1 and summary.skipped == 1 and summary.ran == 1
    first, second = runs(tmp_path)
    assert first["status"] == "stale" and "killed" in first["note"]
    assert second["status"] == "complete"


def _fail_writes_after(monkeypatch, n_ok: int, err: int) -> list[int]:
    """Make the results folder refuse writes (``err``) after ``n_ok`` batch files, failing
    half-way through writing the temp file as a full disk does."""
    written = [0]
    real = store_module.atomic_write

    def atomic_write(path, write):
        if path.name.startswith("batch-") and path.suffix == ".parquet":
            if written[0] >= n_ok:
                def half(tmp):
                    with open(tmp, "wb") as fh:
                        fh.write(b"PAR1 half a file")
                    raise OSError(err, os.strerror(err), str(path))
                return real(path, half)
            written[0] += 1
        return real(path, write)

    monkeypatch.setattr(store_module, "atomic_write", atomic_write)
    return written


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_folder_refusing_writes_mid_sweep_fails_cleanly_then_resumes(tmp_path, monkeypatch,
                                                                     err):
    spec = tiny_spec(grid=["m=2,3", "p=0,1"])
    with monkeypatch.context() as mp:
        _fail_writes_after(mp, 2, err)
        with pytest.raises(OSError) as info:
            run_sweep(spec, tmp_path, executor=LOCAL, max_members=2)
        assert info.value.errno == err
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []  # the half-written temp file was removed
    assert len(SweepStore(tmp_path).batch_files()) == 2  # finished batches stay readable
    assert SweepStore(tmp_path).finished_members()  # and their metadata reads back
    summary = run_sweep(spec, tmp_path, executor=LOCAL, max_members=2)
    assert summary.skipped == 4 and summary.ran == 8
    first = runs(tmp_path)[0]
    assert first["status"] == "failed" and first["error"].startswith("OSError")
    complete_rows(tmp_path)


def test_cli_reports_a_folder_refusing_writes_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from relulab.cli import app

    _fail_writes_after(monkeypatch, 1, errno.EROFS)
    res = CliRunner().invoke(app, ["sweep", "demo", *GRID, "--seeds", "1", "--out",
                                   str(tmp_path / "s"), "--max-members", "2",
                                   "--no-progress", "--device", "cpu", *CLI_SET])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Read-only file system")


def test_results_folder_made_read_only_mid_run(tmp_path, monkeypatch):
    """The results folder refuses writes after the first batch (as a filesystem remounted
    read-only would, which root cannot override): the sweep stops with the error, keeps the
    batch written before, and a rerun completes it."""
    import errno

    spec = tiny_spec(grid=["m=2,3", "p=0,1"])
    store = SweepStore(tmp_path)
    results = store.results_dir
    real_replace, refused = os.replace, []

    def replace(src, dst, *args, **kwargs):
        if read_only and Path(dst).parent == results:
            refused.append(dst)
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    class ReadOnlyAfterFirst:
        name = "local"

        def run(self, tasks, on_progress=None):
            nonlocal read_only
            for i, out in enumerate(LOCAL.run(tasks, on_progress)):
                read_only = i >= 1
                yield out

        def close(self):
            pass

    read_only = False
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="Read-only"):
        run_sweep(spec, tmp_path, executor=ReadOnlyAfterFirst(), max_members=2)
    assert refused, "the refusing filesystem was never written to"
    assert len(store.batch_files()) == 1
    assert not list(results.glob(".*.tmp")), "a half-written file was left behind"
    read_only = False
    run_sweep(spec, tmp_path, executor=LOCAL, max_members=2)
    complete_rows(tmp_path)
