"""A sweep killed with SIGKILL at any moment resumes with no lost and no duplicated rows."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from sweep_helpers import CLI_SET, relulab_cmd

from relulab.results.query import query
from relulab.results.store import SweepStore

SEEDS = 3
GRID = ["--grid", "m=2,3", "--grid", "p=0,1"]  # 4 cells x 3 seeds, batches of 2 -> 6 batches


def start(out) -> subprocess.Popen:
    cmd = [*relulab_cmd(), "sweep", "demo", *GRID, "--seeds", str(SEEDS), "--out", str(out),
           "--max-members", "2", "--no-progress", "--device", "cpu", *CLI_SET]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny nets: one thread is fastest
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def batches(out) -> int:
    return len(SweepStore(out).batch_files())


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_at_several_points_then_resume(tmp_path):
    out = tmp_path / "s"
    # 1: killed during start-up (imports / planning), 2: right after the first batch file,
    # 3: right after two more batch files, then a resume that must finish the rest.
    kill_when(start(out), lambda: (out / "manifest.json").exists())
    assert batches(out) <= 1
    kill_when(start(out), lambda: batches(out) >= 1)
    after_two = batches(out)
    assert after_two >= 1
    kill_when(start(out), lambda: batches(out) >= after_two + 2)
    killed_at = batches(out)
    assert killed_at < 6, "the sweep finished before it could be killed"
    final = start(out)
    stdout, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr.decode()[-2000:]
    assert "run in" in stdout.decode()
    rows = query(out, "SELECT count(*) AS n, count(DISTINCT (cell, seed, layer, epoch)) AS d, "
                 "count(DISTINCT (cell, seed)) AS members FROM results").to_pylist()[0]
    # 4 cells x 3 seeds x 1 layer x (init + 2 epochs), none lost, none twice
    assert rows == {"n": 36, "d": 36, "members": 12}
    missing = query(out, "SELECT cell, seed, count(DISTINCT epoch) AS e FROM results "
                    "GROUP BY cell, seed HAVING e <> 3")
    assert missing.num_rows == 0
    assert not list(out.rglob("*.tmp"))
    manifest_runs = SweepStore(out).read_manifest()["runs"]
    assert manifest_runs[-1]["status"] == "complete"
    assert sum(r["members_planned"] for r in manifest_runs[-1:]) == 12 - 2 * killed_at
