"""Running sweeps: rows per (cell, seed, layer, epoch), resume, batching invariance, weights."""

from __future__ import annotations

import json

import pytest
import torch
from sweep_helpers import CLI_SET, TINY_SET, tiny_spec
from typer.testing import CliRunner

from relulab.cli import app
from relulab.config import with_overrides
from relulab.config.presets import get_preset
from relulab.results.query import query
from relulab.results.store import StoreError, SweepStore
from relulab.sweeps.executors import EXECUTORS, get_executor, register_executor
from relulab.sweeps.runner import run_sweep
from relulab.training.engine import train

LOCAL = get_executor("local")
KEY = "cell, seed, layer, epoch"


def counts(root) -> tuple[int, int]:
    row = query(root, f"SELECT count(*) AS n, count(DISTINCT ({KEY})) AS d FROM results")
    return row["n"][0].as_py(), row["d"][0].as_py()


def test_finished_sweep_has_one_row_per_cell_seed_layer_epoch(finished_sweep):
    n, distinct = counts(finished_sweep)
    assert n == distinct == 4 * 3 * 1 * 3  # cells x seeds x layers x (init + 2 epochs)
    rows = query(finished_sweep, "SELECT cell, m, n, multi, p, teacher_widths, "
                 "teacher_fan_out_decay, optim_epochs, preset, final, epoch, lr, train_loss, "
                 "batch_seconds, device FROM results ORDER BY cell, seed, epoch").to_pylist()
    first = rows[0]
    assert first["cell"] == "m=2,p=0" and first["m"] == 2 and first["n"] == 8
    assert first["multi"] == 4 and first["p"] == 0.0 and first["teacher_widths"] == [2]
    assert first["optim_epochs"] == 2 and first["preset"] == "demo"
    assert first["epoch"] == 0 and first["train_loss"] is None and not first["final"]
    last = rows[2]
    assert last["epoch"] == 2 and last["final"] and last["train_loss"] > 0
    assert last["lr"] == pytest.approx(0.01) and last["batch_seconds"] > 0
    assert {r["cell"] for r in rows} == {"m=2,p=0", "m=2,p=1", "m=3,p=0", "m=3,p=1"}
    assert {r["teacher_fan_out_decay"] for r in rows if r["cell"].endswith("p=1")} == {1.0}
    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    assert manifest["kind"] == "relulab-sweep" and manifest["preset"] == "demo"
    assert set(manifest["cells"]) == {"m=2,p=0", "m=2,p=1", "m=3,p=0", "m=3,p=1"}
    run = manifest["runs"][-1]
    assert run["status"] == "complete" and run["ended_at"] and "torch" in run["versions"]
    assert run["batches_written"] == run["batches_planned"] == 4  # 2 groups x 6 members / 4


def test_rows_do_not_depend_on_batching_and_match_a_plain_run(finished_sweep, tmp_path):
    """Members keep their own (cell, seed) identity however they are batched: the same
    sweep one member per batch gives the same statistics, and so does `train` alone."""
    run_sweep(tiny_spec(grid=["m=3", "p=0,1"]), tmp_path, executor=LOCAL, max_members=1)
    sql = f"SELECT {KEY}, rho_greedy, eval_loss FROM results WHERE m = 3 ORDER BY {KEY}"
    alone, batched = query(tmp_path, sql).to_pylist(), query(finished_sweep, sql).to_pylist()
    assert len(alone) == len(batched) == 2 * 3 * 3
    for a, b in zip(alone, batched, strict=True):
        assert (a["cell"], a["seed"], a["epoch"]) == (b["cell"], b["seed"], b["epoch"])
        assert a["rho_greedy"] == pytest.approx(b["rho_greedy"], abs=1e-4)
    cfg = with_overrides(get_preset("demo"), {**TINY_SET, "m": "3", "p": "1"})
    result = train(cfg, [2])
    final = query(finished_sweep, "SELECT eval_loss FROM results WHERE cell = 'm=3,p=1' "
                  "AND seed = 2 AND final").to_pylist()[0]["eval_loss"]
    assert final == pytest.approx(float(result.eval_loss[0]), rel=1e-3)
    # seeds differ in the sweep (not all equal rows) - catches members collapsing into one
    seeds = query(finished_sweep, "SELECT DISTINCT rho_greedy FROM results WHERE final AND "
                  "cell = 'm=3,p=1'")
    assert seeds.num_rows == 3


def test_resume_skips_finished_and_extends_seeds(tmp_path):
    first = run_sweep(tiny_spec(seeds=2, grid=["p=0,1"]), tmp_path, executor=LOCAL)
    assert (first.ran, first.skipped, first.batches) == (4, 0, 1)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results").iterdir()}
    again = run_sweep(tiny_spec(seeds=2, grid=["p=0,1"]), tmp_path, executor=LOCAL)
    assert (again.ran, again.skipped, again.batches) == (0, 4, 0)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results").iterdir()} == before
    more = run_sweep(tiny_spec(seeds=3, grid=["p=0,1,2"]), tmp_path, executor=LOCAL)
    assert (more.ran, more.skipped) == (9 - 4, 4)
    n, distinct = counts(tmp_path)
    assert n == distinct == 3 * 3 * 3
    runs = json.loads((tmp_path / "manifest.json").read_text())["runs"]
    assert [r["members_planned"] for r in runs] == [4, 0, 5]


def test_conflicting_config_is_an_error_and_leaves_results_untouched(tmp_path):
    run_sweep(tiny_spec(seeds=1, grid=["p=0"]), tmp_path, executor=LOCAL)
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(StoreError, match="'p=0' .* different config"):
        run_sweep(tiny_spec(seeds=2, grid=["p=0"], lr="0.02"), tmp_path, executor=LOCAL)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_final_weights_as_safetensors(tmp_path):
    from safetensors import safe_open

    run_sweep(tiny_spec(seeds=2, grid=["p=0,1"]), tmp_path, executor=LOCAL, save_weights=True)
    (path,) = (tmp_path / "weights").glob("batch-*.safetensors")
    assert (tmp_path / "results" / (path.stem + ".parquet")).exists()
    with safe_open(str(path), framework="pt") as f:
        members = json.loads(f.metadata()["members"])
        w = f.get_tensor("student.weight.0")
        t = f.get_tensor("teacher.weight.1")
    assert [(m["cell"], m["seed"]) for m in members] == [("p=0", 0), ("p=0", 1), ("p=1", 0),
                                                          ("p=1", 1)]
    assert w.shape == (4, 20, 20) and t.shape == (4, 10, 5) and w.dtype == torch.float32
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pt"))


def test_registered_executor_runs_the_sweep_from_the_cli(tmp_path):
    """``register_executor(name, factory)`` makes ``--executor name`` construct it, run every
    batch through its ``run`` (here in reverse order) and close it."""
    with pytest.raises(Exception, match="unknown executor 'recording'"):
        get_executor("recording")
    made = []

    class Recording:
        name = "recording"

        def __init__(self):
            self.seen, self.closed = [], False
            made.append(self)

        def run(self, tasks, on_progress=None):
            for task in reversed(tasks):  # any order is allowed
                self.seen.append(task.batch.batch_id)
                yield from LOCAL.run([task], on_progress)

        def close(self):
            self.closed = True

    register_executor("recording", Recording)
    try:
        result = CliRunner().invoke(app, [
            "sweep", "demo", "--grid", "p=0,1", "--seeds", "1", "--out", str(tmp_path),
            "--executor", "recording", "--max-members", "1", "--no-progress", "--device", "cpu",
            *CLI_SET])
    finally:
        EXECUTORS.pop("recording")
    assert result.exit_code == 0, result.output
    (executor,) = made
    assert len(executor.seen) == 2 and executor.closed
    with SweepStore(tmp_path) as store:
        assert [p.stem for p in store.batch_files()] == sorted(
            f"batch-{i}" for i in executor.seen)
        assert store.read_manifest()["runs"][-1]["executor"] == "recording"
    assert counts(tmp_path) == (2 * 1 * 3, 2 * 1 * 3)  # cells x layers x (init + 2 epochs)


def test_out_of_order_executor_gives_the_same_rows(tmp_path, finished_sweep):
    class Reversed:
        name = "reversed"

        def run(self, tasks, on_progress=None):
            for task in reversed(list(tasks)):
                yield from LOCAL.run([task])

        def close(self):
            pass

    run_sweep(tiny_spec(), tmp_path, executor=Reversed(), max_members=4)
    sql = f"SELECT {KEY}, rho_greedy FROM results ORDER BY {KEY}"
    a, b = query(tmp_path, sql).to_pylist(), query(finished_sweep, sql).to_pylist()
    assert [r["rho_greedy"] for r in a] == pytest.approx([r["rho_greedy"] for r in b], abs=1e-5)
    with SweepStore(tmp_path) as store:
        assert len(store.batch_files()) == 4


@pytest.mark.slow
def test_paper_slice_one_epoch(tmp_path):
    """Paper-size slice (m=10, multi=5, six p, 32 seeds) for one epoch of 1000 steps."""
    from relulab.config.grid import SweepSpec, parse_grid
    from relulab.experiments import PAPER_TWO_LAYER_SWEEP

    paper = PAPER_TWO_LAYER_SWEEP.spec(32, ["epochs=1"])
    spec = SweepSpec(paper.preset, with_overrides(paper.base, {"m": 10, "multi": 5}),
                     parse_grid(["p=0,0.5,1,1.5,2,2.5"]), paper.seeds, paper.overrides)
    summary = run_sweep(spec, tmp_path, executor=LOCAL)
    assert (summary.ran, summary.batches) == (192, 1)
    n, distinct = counts(tmp_path)
    assert n == distinct == 6 * 32 * 2
