import math

import pytest
import torch
from cli_checks import run_rows
from rich.console import Console
from typer.testing import CliRunner

from relulab import build, with_overrides
from relulab.results.schema import threshold_column
from relulab.training.engine import StatsContext, train
from relulab.training.recorder import StatsRecorder

LIST_COLUMNS = {"teacher_best_corr": "m", "teacher_best_student": "m", "winner_rank": "m",
                "student_best_corr": "n", "student_fanout_norm": "n",
                "teacher_fanout_norm": "m"}
SCALAR_COLUMNS = {"seed": int, "epoch": int, "step": int, "layer": int, "final": bool,
                  "rho_greedy": float, "rho_hungarian": float, "matched_050": int,
                  "matched_080": int, "matched_090": int, "matched_095": int, "matched_099": int,
                  "grad_norm": float}


def _context(cfg, seeds, teacher, student, x, **kw) -> StatsContext:
    """A StatsContext by keyword, every member with config ``cfg``."""
    args = dict(cfg=cfg, seeds=seeds, epoch=0, step=0, teacher=teacher, student=student,
                eval_x=x, diverged=torch.zeros(len(seeds), dtype=torch.bool), grads=None,
                cfgs=[cfg] * len(seeds))
    args.update(kw)
    return StatsContext(**args)


def test_schema_and_cadence(demo_run, demo_cfg):
    result, recorder = demo_run
    rows = recorder.tables()["layers"]
    # 3 seeds x 1 hidden layer x (init + 2 epochs at stats_every=1)
    assert len(rows) == 3 * 1 * 3
    assert [r["epoch"] for r in rows] == [0] * 3 + [1] * 3 + [2] * 3
    assert [r["step"] for r in rows[::3]] == [0, 100, 200]
    assert [r["final"] for r in rows] == [False] * 6 + [True] * 3
    m, n = demo_cfg.teacher.widths[0], demo_cfg.student_widths[0]
    for r in rows:
        for key, tp in SCALAR_COLUMNS.items():
            assert type(r[key]) is tp, key
        for key, size in LIST_COLUMNS.items():
            assert len(r[key]) == {"m": m, "n": n}[size], key
        assert r["layer"] == 1 and r["seed"] == result.seeds[r["member"]]


def test_rows_are_consistent(demo_run):
    _, recorder = demo_run
    init_train = recorder.init_correlations[0]  # (S, n, m) on the training set
    for r in recorder.rows:
        best = torch.tensor(r["teacher_best_corr"], dtype=torch.float64)
        assert r["rho_greedy"] == pytest.approx(float(best.mean()), abs=1e-12)
        assert r["rho_hungarian"] <= r["rho_greedy"] + 1e-12
        assert max(r["student_best_corr"]) == pytest.approx(float(best.max()), abs=1e-12)
        counts = [r[threshold_column(t)] for t in (0.5, 0.8, 0.9, 0.95, 0.99)]
        assert counts == [int((best > t).sum()) for t in (0.5, 0.8, 0.9, 0.95, 0.99)]
        for j, i in enumerate(r["teacher_best_student"]):
            assert r["student_best_corr"][i] >= r["teacher_best_corr"][j] - 1e-12
        if r["epoch"] == 0:  # init order from the training set, best from the eval set
            col = init_train[r["member"]]
            ranks = [int((col[:, j] > col[i, j]).sum() + (col[:i, j] == col[i, j]).sum())
                     for j, i in enumerate(r["teacher_best_student"])]
            assert r["winner_rank"] == ranks and math.isnan(r["grad_norm"])
            assert max(r["winner_rank"]) <= 3  # eval and train best students nearly agree
        else:
            assert r["grad_norm"] > 0 and all(0 <= k < 20 for k in r["winner_rank"])


def test_training_specializes_and_summary(demo_run):
    _, recorder = demo_run
    final = [r for r in recorder.rows if r["final"]]
    init = [r for r in recorder.rows if r["epoch"] == 0]
    assert min(r["rho_greedy"] for r in final) > max(r["rho_greedy"] for r in init) + 0.2
    (entry,) = recorder.summary()
    assert entry["layer"] == 1 and entry["seeds"] == 3 and (entry["m"], entry["n"]) == (5, 20)
    vals = torch.tensor([r["rho_greedy"] for r in final], dtype=torch.float64)
    assert entry["rho_greedy_mean"] == pytest.approx(float(vals.mean()))
    assert entry["rho_greedy_std"] == pytest.approx(float(vals.std()))
    console = Console(record=True, width=120)
    recorder.print_summary(console)
    text = console.export_text()
    assert "ρ̄" in text and f"{entry['rho_greedy_mean']:.4f} ± " in text
    rates = recorder.recovery_rates()
    assert set(rates) == {1} and rates[1].shape == (5,)
    assert ((rates[1] >= 0) & (rates[1] <= 1)).all()
    at_init = recorder.recovery_rates(epoch=0)[1]
    assert float(at_init.sum()) == 0.0  # nothing is recovered at random init
    with pytest.raises(ValueError, match="epoch 7"):
        recorder.recovery_rates(epoch=7)


def test_seed_alone_equals_seed_in_batch(demo_run, demo_cfg):
    _, batched = demo_run
    alone = StatsRecorder()
    train(demo_cfg, [1], callbacks=[alone])
    mine = [r for r in batched.rows if r["seed"] == 1]
    assert len(mine) == len(alone.rows)
    for a, b in zip(alone.rows, mine, strict=True):
        assert a["teacher_best_student"] == b["teacher_best_student"]
        assert a["rho_greedy"] == pytest.approx(b["rho_greedy"], abs=1e-5)
        assert a["rho_hungarian"] == pytest.approx(b["rho_hungarian"], abs=1e-5)


def test_deep_and_conv_runs_record_every_layer(deep_cfg, conv_cfg):
    for cfg in (deep_cfg, conv_cfg):
        rec = StatsRecorder(eval_samples=20, chunk=6)
        train(cfg, [0, 1], callbacks=[rec])
        rows = rec.tables()["layers"]
        depth = len(cfg.teacher.widths)
        assert len(rows) == 2 * depth * (cfg.optim.epochs + 1)
        for r in rows:
            layer = r["layer"] - 1
            assert len(r["teacher_best_corr"]) == cfg.teacher.widths[layer]
            assert len(r["student_fanout_norm"]) == cfg.student_widths[layer]
            assert all(math.isfinite(v) for v in r["student_fanout_norm"])


def test_recorder_restarts_with_a_new_run_and_without_init(deep_cfg):
    rec = StatsRecorder()
    train(deep_cfg, [0], callbacks=[rec], max_steps=3)
    first_init = rec.init_correlations
    train(with_overrides(deep_cfg, {"seed": 5}), [0], callbacks=[rec], max_steps=3)
    assert not torch.equal(first_init[0], rec.init_correlations[0])
    late = StatsRecorder()
    teacher, student, src = build(deep_cfg, [0])
    late(_context(deep_cfg, [0], teacher, student, src.eval_inputs(), epoch=3, step=30))
    assert all(r["winner_rank"] == [-1] * len(r["winner_rank"]) for r in late.rows)


def test_non_finite_activations_give_nan_rows(deep_cfg):
    teacher, student, src = build(deep_cfg, [0, 1])
    student.weights[1][1, 0] = torch.inf  # seed 1, layer 2: one node's fan-in is infinite
    rec = StatsRecorder()
    rec(_context(deep_cfg, [0, 1], teacher, student, src.eval_inputs(),
                 diverged=torch.tensor([False, True])))
    by = {(r["seed"], r["layer"]): r for r in rec.rows}
    assert len(by) == 6
    assert all(math.isfinite(by[(0, layer)]["rho_greedy"]) for layer in (1, 2, 3))
    assert math.isfinite(by[(1, 1)]["rho_greedy"])
    for layer in (2, 3):
        r = by[(1, layer)]
        assert math.isnan(r["rho_greedy"]) and math.isnan(r["rho_hungarian"])
        assert -1 in r["teacher_best_student"] and -1 in r["winner_rank"]


def test_diverged_seeds_still_have_rows(demo_cfg):
    cfg = with_overrides(demo_cfg, {"lr": 1e6, "epochs": 1, "steps_per_epoch": 20})
    rec = StatsRecorder()
    result = train(cfg, [0, 1], callbacks=[rec])
    assert bool(result.diverged.all())
    assert len(rec.rows) == 2 * 2  # init + end, both seeds
    assert all(r["final"] for r in rec.rows[2:])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="eval_samples"):
        StatsRecorder(eval_samples=1)
    console = Console(record=True)
    StatsRecorder().print_summary(console)
    assert "no statistics" in console.export_text()


def test_cli_train_writes_layers_table(tmp_path):
    from relulab.cli import app

    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--preset", "demo", "--seeds", "2", "--steps", "40",
                                   "--stats-every", "0", "--no-progress", "--device", "cpu",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "ρ̄" in res.output
    rows = run_rows(out)
    assert len(rows) == 2 * 2  # init and end, no epoch in between at stats_every=0
    assert {"seed", "epoch", "layer", "rho_greedy", "rho_hungarian", "matched_095",
            "winner_rank", "student_fanout_norm", "grad_norm"} <= set(rows[0])
