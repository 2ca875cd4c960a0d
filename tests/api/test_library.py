"""The library surface: train, load and sweep from Python, DataFrames in the documented schema,
one results format for a run and a sweep."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import relulab
from relulab.cli import app
from relulab.config import ConfigError
from relulab.config.grid import Grid
from relulab.results.schema import RESULT_COLUMNS, SCALAR_COLUMNS

TINY = {"m": 3, "multi": 2, "data.train_size": 200, "data.eval_size": 100,
        "optim.steps_per_epoch": 5, "optim.epochs": 2, "d": 8, "c": 4}
TINY_SET = [f"{k}={v}" for k, v in TINY.items()]


def tiny():
    return relulab.with_overrides(relulab.get_preset("demo"), {k: str(v) for k, v in TINY.items()})


def test_train_gives_dataframes_and_a_short_repr():
    res = relulab.train(tiny(), 2, device="cpu")
    scalars, layers = res.scalars, res.layers
    assert list(scalars["seed"].unique()) == [0, 1] and len(scalars) == 2 * 2  # epochs 1, 2
    assert set(SCALAR_COLUMNS) <= set(scalars.columns)
    assert {"rho_greedy", "teacher_best_corr", "layer", "epoch"} <= set(layers.columns)
    assert len(layers) == 2 * 3  # one hidden layer, 3 recorded epochs, 2 seeds
    assert len(repr(res)) < 400 and "seeds=[0, 1]" in repr(res)
    assert relulab.train(tiny(), 2, device="cpu", stats=False).layers.empty


def test_load_opens_a_train_folder_and_a_sweep_folder_alike(tmp_path):
    runner = CliRunner()
    run, swept = tmp_path / "run", tmp_path / "sweep"
    args = ["--preset", "demo", "--seeds", "2", "--device", "cpu", "--no-progress"]
    out = runner.invoke(app, ["train", *args, "--out", str(run),
                              *sum((["--set", s] for s in TINY_SET), [])])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["sweep", "demo", "--out", str(swept), "--seeds", "2",
                              "--device", "cpu", "--no-progress", "--grid", "p=0,2",
                              *sum((["--set", s] for s in TINY_SET), [])])
    assert out.exit_code == 0, out.output
    for folder, cells in ((run, 1), (swept, 2)):
        res = relulab.load(folder)
        layers = res.layers
        assert set(RESULT_COLUMNS) <= set(layers.columns)
        assert layers["cell"].nunique() == cells and sorted(layers["seed"].unique()) == [0, 1]
        assert set(res.scalars.columns) >= set(SCALAR_COLUMNS)
        assert {"rate", "teacher_node"} <= set(res.recovery.columns)
        assert res.sql("SELECT count(*) AS n FROM results")["n"][0] == len(layers)
        for cmd in (["query", str(folder), "SELECT count(*) FROM results"],
                    ["report", str(folder)]):
            got = runner.invoke(app, cmd)
            assert got.exit_code == 0, (cmd, got.output)
        assert (folder / "report.html").exists()
    assert relulab.load(run).config().hash() == tiny().hash()


def test_a_train_folder_holds_the_rows_of_the_trained_result(tmp_path):
    res = relulab.train(tiny(), [3, 5], device="cpu", out=tmp_path / "run")
    stored = relulab.load(tmp_path / "run")
    got = stored.scalars
    got = got[got["epoch"] > 0].sort_values(["seed", "epoch"])
    want = res.scalars.sort_values(["seed", "epoch"])
    for col in ("seed", "epoch", "eval_loss", "train_loss"):
        assert got[col].tolist() == want[col].tolist(), col
    assert sorted(stored.layers["seed"].unique()) == [3, 5]


def test_sweep_from_python_gives_the_rows_of_the_cli(tmp_path):
    py = relulab.sweep("demo", grid={"p": [0, 2]}, seeds=2, out=tmp_path / "py",
                       set=TINY, device="cpu")
    out = CliRunner().invoke(app, ["sweep", "demo", "--out", str(tmp_path / "cli"),
                                   "--seeds", "2", "--device", "cpu", "--no-progress",
                                   "--grid", "p=0,2",
                                   *sum((["--set", s] for s in TINY_SET), [])])
    assert out.exit_code == 0, out.output
    cli = relulab.load(tmp_path / "cli")
    cols = ["cell", "seed", "layer", "epoch", "rho_greedy", "eval_loss", "train_loss"]
    a = py.layers[cols].sort_values(cols[:4]).reset_index(drop=True)
    b = cli.layers[cols].sort_values(cols[:4]).reset_index(drop=True)
    assert a.equals(b)
    again = relulab.sweep("demo", grid={"p": [0, 2]}, seeds=2, out=tmp_path / "py",
                          set=TINY, device="cpu")  # resumed: nothing left to run
    assert len(again.layers) == len(a)


def test_grid_takes_a_mapping():
    assert Grid({"p": [0, 2]}).points() == [{"p": 0.0}, {"p": 2.0}]
    assert Grid.of({"multi": [1, 5], "p": 1}).keys == ("multi", "p")
    with pytest.raises(ConfigError):
        Grid({"nope": [1]})


def test_seeds_as_count_range_or_list():
    from relulab.api import parse_seeds

    assert parse_seeds(3) == [0, 1, 2] and parse_seeds("8:11") == [8, 9, 10]
    assert parse_seeds("1,5,9") == [1, 5, 9] and parse_seeds([4, 2]) == [4, 2]
    for bad in ("a:b", "3:3", [1, 1], -1, "x"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_a_seed_range_gives_the_rows_of_those_seeds_in_a_larger_run():
    whole = relulab.train(tiny(), 4, device="cpu", stats=False)
    part = relulab.train(tiny(), "2:4", device="cpu", stats=False)
    for i, seed in enumerate((2, 3)):
        for a, b in zip(whole.student.select([seed]).parameters(),
                        part.student.select([i]).parameters(), strict=True):
            assert torch.equal(a, b)


def _teachers():
    """Three teachers as a user writes them: fc, fc with BatchNorm, conv."""
    from torch import nn

    torch.manual_seed(0)
    fc = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 4))
    bn = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.BatchNorm1d(5, affine=False),
                       nn.Linear(5, 4))
    bn[2].running_mean.uniform_(-0.5, 0.5)
    bn[2].running_var.uniform_(0.5, 2.0)
    conv = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    return {"fc": (fc, (8,)), "bn": (bn, (8,)), "conv": (conv, (1, 8, 8))}


@pytest.mark.parametrize("kind", ["fc", "bn", "conv"])
def test_a_users_module_teacher_trains_and_comes_back_as_modules(kind, tmp_path):
    teacher, shape = _teachers()[kind]
    base = relulab.get_preset("luck-conv-small" if kind == "conv" else "luck-fc-small")
    cfg = relulab.with_overrides(base, {"data.train_size": "256", "data.eval_size": "64",
                                        "optim.steps_per_epoch": "4", "optim.epochs": "2"})
    res = relulab.train(cfg, 2, teacher=teacher, device="cpu", out=tmp_path / kind)
    assert res.cfg.teacher.widths == ((5,) if kind != "conv" else (3,))
    x = torch.randn(16, *shape, generator=torch.Generator().manual_seed(1))
    stored = relulab.load(tmp_path / kind)
    for i, (module, loaded) in enumerate(zip(res.student_modules(), stored.students(),
                                             strict=True)):
        want = relulab.predict(res.student, x)[i]
        torch.testing.assert_close(module(x), want, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(loaded(x), module(x), rtol=0, atol=0)  # the same weights
    for module in stored.teachers():  # every seed got the user's teacher
        torch.testing.assert_close(module(x), teacher.eval()(x), rtol=1e-6, atol=1e-6)
    if kind == "bn":  # the teacher's BN statistics went through the run folder
        (got,) = [m for m in stored.teachers()[1] if isinstance(m, torch.nn.BatchNorm1d)]
        assert torch.equal(got.running_mean, teacher[2].running_mean)
        assert torch.equal(got.running_var, teacher[2].running_var)
