"""``relulab train --out``: SIGINT / SIGTERM stop at a step boundary with a checkpoint and exit
130; SIGKILL loses at most one checkpoint interval; ``--resume`` ends with exactly the files of
an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from safetensors.torch import load_file

ARGS = ["--preset", "demo", "--seeds", "2", "--epochs", "20", "--no-progress",
        "--set", "steps_per_epoch=20", "--set", "dtype=float32", "--set", "N=256",
        "--set", "data.eval_size=128", "--stats-every", "1"]


def cmd(out: Path, *extra: str) -> list[str]:
    exe = Path(sys.executable).with_name("relulab")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "relulab.cli"]
    return [*base, "train", *ARGS, "--out", str(out), *extra]


def run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd(out, *extra), capture_output=True, text=True, env=env,
                          timeout=300)


def interrupt(out: Path, sig: int) -> tuple[int, str, str]:
    """Start a run and send ``sig`` once its first checkpoint exists; (rc, stdout, stderr)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.safetensors").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr


def same_outputs(a: Path, b: Path) -> None:
    (ra,), (rb,) = (sorted((f / "results").glob("batch-*.parquet")) for f in (a, b))
    timing = {"batch_seconds", "started_at", "finished_at"}
    ta, tb = pq.read_table(ra), pq.read_table(rb)
    assert ta.schema.names == tb.schema.names
    rows_a = [{k: v for k, v in r.items() if k not in timing} for r in ta.to_pylist()]
    rows_b = [{k: v for k, v in r.items() if k not in timing} for r in tb.to_pylist()]
    assert json.dumps(rows_a) == json.dumps(rows_b)  # JSON: NaN (grad at init) == NaN
    (wa,), (wb,) = (sorted((f / "weights").glob("batch-*.safetensors")) for f in (a, b))
    wa, wb = load_file(wa), load_file(wb)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].equal(wb[k]), k


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "full"
    done = run(out)
    assert done.returncode == 0, done.stderr
    assert not (out / "checkpoint.safetensors").exists()
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_with_checkpoint_and_resume_is_identical(sig, uninterrupted, tmp_path):
    out = tmp_path / "run"
    rc, stdout, stderr = interrupt(out, sig)
    assert rc == 130, stderr[-2000:]
    # in a pipe, messages go to stderr and stdout holds only tables
    assert "interrupted after step" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    assert not (out / "results").exists()  # the run is not finished
    resumed = run(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    same_outputs(uninterrupted, out)
    assert not (out / "checkpoint.safetensors").exists()
    if sig == signal.SIGINT:
        finished = run(out, "--resume")
        assert finished.returncode == 0 and "already finished" in finished.stderr


def test_sigkill_then_resume_is_identical(uninterrupted, tmp_path):
    out = tmp_path / "run"
    assert interrupt(out, signal.SIGKILL)[0] == -signal.SIGKILL
    resumed = run(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    same_outputs(uninterrupted, out)


def test_resume_errors_are_one_line(tmp_path):
    """In process (CliRunner): a checkpoint written by a short run of the same command."""
    from typer.testing import CliRunner

    from relulab.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["train", *ARGS, "--resume"])
    assert res.exit_code == 2 and "--resume needs --out" in res.output
    res = runner.invoke(app, ["train", *ARGS, "--out", str(tmp_path / "empty"), "--resume"])
    assert res.exit_code == 2 and "nothing to resume" in res.output
    out = tmp_path / "run"
    (out).mkdir()
    (out / "checkpoint.safetensors").write_bytes(b"garbage")
    res = runner.invoke(app, ["train", *ARGS, "--out", str(out)])
    assert res.exit_code == 2 and "holds an unfinished run" in res.output
    res = runner.invoke(app, ["train", *ARGS, "--out", str(out), "--resume"])
    assert res.exit_code == 2 and "unreadable checkpoint" in res.output


def test_checkpoint_of_another_run_is_refused(tmp_path):
    from typer.testing import CliRunner

    from relulab.cli import app

    runner = CliRunner()
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as mp:  # stop right after the first checkpoint
        from relulab import interrupts

        mp.setattr(interrupts.StopRequest, "__call__", lambda self: True)
        res = runner.invoke(app, ["train", *ARGS, "--out", str(out)])
    assert res.exit_code == 130 and (out / "checkpoint.safetensors").exists()
    res = runner.invoke(app, ["train", *ARGS, "--out", str(out), "--resume",
                              "--set", "multi=3"])
    assert res.exit_code == 2 and "is of another run (config_hash" in res.output
    res = runner.invoke(app, ["train", *ARGS, "--out", str(out), "--resume", "--seeds", "3"])
    assert res.exit_code == 2 and "is of another run (seeds" in res.output
