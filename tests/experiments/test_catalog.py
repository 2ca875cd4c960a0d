"""``relulab experiment``: the catalog validates, a tiny experiment runs end to end through the
sweep machinery (summary, figures, report), resumes, and its tables agree with the results."""

import math

import pytest
from typer.testing import CliRunner

from relulab.cli import app
from relulab.experiments.catalog import EXPERIMENTS
from relulab.experiments.tables import node_stats
from relulab.plots.experiments import experiment_figures
from relulab.results.query import connect

TINY = ["--set", "epochs=2", "--set", "steps_per_epoch=3", "--set", "data.eval_size=40",
        "--seeds", "2", "--device", "cpu", "--no-progress", "--no-report"]


@pytest.mark.parametrize("full", [False, True])
def test_every_part_is_a_valid_sweep(full):
    for exp in EXPERIMENTS.values():
        for part in exp.parts(full):
            cells = part.spec().cells()
            assert cells and all(c.config.stats_every == 1 for c in cells)
            if not full:
                assert all(c.config.dtype == "float32" for c in cells)


def test_list_names_every_experiment():
    res = CliRunner().invoke(app, ["experiment", "list"])
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(EXPERIMENTS)


@pytest.mark.parametrize("args,msg", [
    (["nope", "--out", "X"], "unknown experiment 'nope'"),
    (["leaky"], "--out DIR is required"),
    (["leaky", "--out", "X", "--set", "bogus=1"], "unknown config key 'bogus'"),
])
def test_bad_input_exit_2(args, msg, tmp_path):
    args = [a.replace("X", str(tmp_path / "x")) for a in args]
    res = CliRunner().invoke(app, ["experiment", *args])
    assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


def test_tiny_augmentation_runs_resumes_and_tables_agree(tmp_path):
    out = tmp_path / "aug"
    res = CliRunner().invoke(app, ["experiment", "augmentation", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    part = out / "two-layer"
    summary = (out / "summary.md").read_text()
    assert "success rate per teacher node" in summary and "data.kind=theory_suggested" in summary
    figures = experiment_figures("augmentation", {"two-layer": part})  # (the report: slow)
    assert [p.name for p in figures] == ["first_recovery.png", "first_recovery.svg"]
    assert all(p.parent == part / "experiment" and p.stat().st_size > 0 for p in figures)
    again = CliRunner().invoke(app, ["experiment", "augmentation", "--out", str(out), *TINY])
    assert again.exit_code == 0 and "16 members already done, 0 run" in again.output
    # node_stats against the recovery view (an independent SQL path) and a hand count
    stats = node_stats(part, early=1)
    con = connect(part)
    rec = con.execute("SELECT cell, teacher_node, rate FROM recovery WHERE layer = 1 AND final"
                      ).fetchall()
    rows = con.execute("SELECT cell, seed, epoch, teacher_best_corr FROM results WHERE layer = 1"
                       ).fetchall()
    sizes = con.execute("SELECT DISTINCT data_kind, data_train_size, "
                        "len(teacher_best_corr) FROM results").fetchall()
    con.close()
    assert len(stats) == 8
    for cell, j, rate in rec:
        assert stats[cell]["end"][j] == pytest.approx(rate)
    for cell, e in stats.items():
        for j, firsts in enumerate(e["first"]):
            hits = {}
            for c, seed, epoch, best in rows:
                if c == cell and not math.isnan(best[j]) and best[j] > 0.95:
                    hits[seed] = min(hits.get(seed, epoch), epoch)
            assert sorted(firsts) == sorted(hits.values())
    assert {k for k, _, _ in sizes} == {"gaussian", "theory_suggested"}
