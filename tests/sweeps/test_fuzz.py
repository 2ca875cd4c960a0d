"""Property-based fuzzing of the command line: every generated ``--set`` / ``--grid`` item,
query string and theory option either runs or exits 2 with exactly one line starting
``error:`` -- never a traceback, never exit 1, never files left in ``--out`` on failure.

Budget: ``RELULAB_FUZZ_EXAMPLES`` examples per property (default 25 in the test suite)."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from relulab.cli import app
from relulab.config import DataConfig, OptimConfig, RunConfig, StudentConfig, TeacherConfig
from relulab.config.overrides import ALIASES

EXAMPLES = int(os.environ.get("RELULAB_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
runner = CliRunner()

SECTIONS = {"teacher": TeacherConfig, "student": StudentConfig, "data": DataConfig,
            "optim": OptimConfig}
KEYS = sorted({f"{s}.{f.name}" for s, c in SECTIONS.items() for f in fields(c)}
              | {f.name for f in fields(RunConfig) if f.name not in SECTIONS} | set(ALIASES))
# keys that set how long a run is: a sweep has no --steps, so its grid may not make it long
DURATION = {"epochs", "optim.epochs", "steps_per_epoch", "optim.steps_per_epoch",
            "optim.lr_schedule", "stats_every"}
NASTY = ["", " ", "0", "-1", "-0", "1e400", "-1e400", "9" * 40, "nan", "NaN", "inf", "-inf",
         "1e-400", "0x10", "1_000", "true", "false", "none", "None", "null", "[1,2]", "(1,)",
         "1,2", "1,,2", "a/b", "1/2", "3/4,5/6", "0:0.2/20:0.1", "gaussian", "uniform",
         "relu", "ümlaut", "∞", "1" * 3, "２", "1.5", "2.5e-3", "100000000000", "-5"]
value = st.one_of(st.sampled_from(NASTY), st.text(max_size=12),
                  st.integers(-10**12, 10**12).map(str),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr))
key = st.one_of(st.sampled_from(KEYS), st.text(max_size=10),
                st.sampled_from(["teacher.", ".", "optim.bogus", "a.b.c", "=", "teacher"]))


def check(res, out: Path | None = None) -> None:
    """Runs (0) or one ``error:`` line and exit 2; no traceback; nothing left on failure."""
    text = res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"uncaught {type(res.exception).__name__}: {res.exception}")
    assert "Traceback" not in text
    assert res.exit_code in (0, 2), (res.exit_code, text[-500:])
    if res.exit_code == 2:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), text[-500:]
        if out is not None:
            assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))


@FUZZ
@given(items=st.lists(st.tuples(key, value), min_size=1, max_size=3))
def test_train_set_items(items, tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz") / "run"
    args = ["train", "--preset", "demo", "--seeds", "1", "--steps", "1", "--no-progress",
            "--device", "cpu", "--out", str(out)]
    for k, v in items:
        args += ["--set", f"{k}={v}"]
    check(runner.invoke(app, args), out)


@FUZZ
@given(axes=st.lists(st.tuples(key.filter(lambda k: k not in DURATION),
                               st.lists(value, min_size=1, max_size=2)),
                     min_size=1, max_size=2),
       junk=st.lists(st.text(max_size=8), max_size=1))
def test_sweep_grid_items(axes, junk, tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz") / "sweep"
    args = ["sweep", "demo", "--out", str(out), "--seeds", "1", "--no-progress",
            "--device", "cpu", "--set", "epochs=1", "--set", "steps_per_epoch=1",
            "--set", "N=64", "--set", "data.eval_size=32"]
    for k, vs in axes:
        args += ["--grid", f"{k}={','.join(vs)}"]
    for j in junk:
        args += ["--grid", j]
    check(runner.invoke(app, args), out)


SQL_WORDS = ["SELECT", "*", "FROM", "results", "recovery", "WHERE", "1", "=", "'x'", ";",
             "COPY", "TO", "'/tmp/x'", "read_csv('/etc/passwd')", "ATTACH", "INSTALL",
             "httpfs", "PRAGMA", "DROP", "TABLE", "(", ")", "--", "/*", "count(*)",
             "UNION", "SET", "enable_external_access=true", "CREATE", "VIEW", "v", "AS",
             "glob('/*')", "LOAD", "'", '"']


@FUZZ
@given(sql=st.one_of(st.lists(st.sampled_from(SQL_WORDS), max_size=8).map(" ".join),
                     st.text(max_size=40)))
def test_query_strings(sql, finished_sweep):
    res = runner.invoke(app, ["query", str(finished_sweep), sql])
    check(res)
    if res.exit_code == 0:
        assert not Path("/tmp/x").exists() or Path("/tmp/x").stat().st_size == 0


THEORY = {  # cheap settings of each command, then fuzzed options
    "saddles": (["--K", "2", "--grid", "3"], ["--K", "--grid", "--span"]),
    "converge": (["--d", "3", "--std", "0.1", "--inits", "2", "--t-max", "1"],
                 ["--d", "--std", "--inits", "--t-max", "--seed"]),
    "ssb": (["--K", "2", "--trials", "2", "--max-steps", "5"],
            ["--K", "--trials", "--noise", "--x0", "--y0", "--lr", "--max-steps"]),
    "thm5": (["--iters", "3", "--seeds", "1"],
             ["--iters", "--seeds", "--update", "--node-multi", "--lr", "--init-std",
              "--batchsize", "--threshold"]),
    "rule-check": (["--depths", "1", "--width", "3", "--samples", "64"],
                   ["--depths", "--width", "--multi", "--slope", "--samples", "--data-std"]),
}
SAFE_SIZES = {"--grid": 5, "--inits": 4, "--trials": 4, "--max-steps": 20, "--iters": 20,
              "--seeds": 2, "--samples": 256, "--width": 8, "--K": 3, "--node-multi": 4,
              "--batchsize": 64, "--multi": 4, "--t-max": 5.0, "--d": 8}


def _bounded(option: str, text: str) -> bool:
    """Keep fuzzed sizes small enough to finish (huge ones are tested as parse errors)."""
    bound = SAFE_SIZES.get(option)
    if bound is None:
        return True
    try:
        return all(abs(float(part)) <= bound for part in text.replace("..", ",").split(","))
    except ValueError:
        return True  # not a number: a parse error, cheap


@FUZZ
@given(command=st.sampled_from(sorted(THEORY)), data=st.data())
def test_theory_options(command, data):
    base, options = THEORY[command]
    option = data.draw(st.sampled_from(options))
    text = data.draw(value.filter(lambda v: _bounded(option, v)))
    check(runner.invoke(app, ["theory", command, *base, option, text]))


@pytest.mark.parametrize("args", [
    ["train", "--seeds", "abc"], ["train", "--bogus"], ["bogus"], ["query"],
    ["theory", "saddles", "--grid", "x"]])
def test_usage_errors_are_one_line(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output


def test_regressions_found_by_fuzzing(monkeypatch):
    """``--depths 255`` exhausted memory (a traceback, or the OOM killer); an allocation
    failure anywhere is now one line, exit 2."""
    res = runner.invoke(app, ["theory", "rule-check", "--depths", "255"])
    assert res.exit_code == 2 and res.output.startswith("error: --depths: at most 32")
    import relulab.training.engine

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't "
                           "allocate memory: you tried to allocate 136058880 bytes")

    monkeypatch.setattr(relulab.training.engine, "train_group", no_memory)
    res = runner.invoke(app, ["train", "--steps", "1", "--seeds", "1", "--no-progress"])
    assert res.exit_code == 2, res.output
    assert res.output.strip().splitlines() == [
        "error: out of memory: the requested sizes do not fit this machine; use fewer seeds, "
        "samples or smaller networks"]
