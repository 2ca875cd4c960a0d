import json

import pytest
from cli_checks import assert_train_refuses, run_rows
from typer.testing import CliRunner

from relulab.cli import app

runner = CliRunner()


def test_presets_lists_all():
    res = runner.invoke(app, ["presets"])
    assert res.exit_code == 0
    for name in ("luck-fc", "luck-fc-small", "luck-conv", "spec-two-layer", "spec-multilayer",
                 "demo"):
        assert name in res.output


def test_train_smoke_writes_run(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--preset", "demo", "--seeds", "2", "--steps", "30",
                              "--device", "cpu", "--out", str(out), "--no-progress",
                              "--set", "lr=0.02"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["optim"]["lr"] == 0.02
    man = json.loads((out / "manifest.json").read_text())
    assert man["seeds"] == [0, 1] and man["device"] == "cpu" and "torch" in man["versions"]
    rows = [r for r in run_rows(out, "scalars") if r["epoch"] > 0]  # epoch 0: before training
    assert {r["seed"] for r in rows} == {0, 1}
    assert all(r["step"] == 30 for r in rows)


@pytest.mark.parametrize("args,msg", [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--set", "bogus=1"], "unknown config key 'bogus'"),
    (["--set", "multi=0"], "student.multi must be >= 1"),
    (["--set", "m=0"], "teacher.widths must be positive"),
    (["--set", "lr=fast"], "'fast' is not a number"),
    (["--set", "multi"], "is not key=value"),
    (["--seeds", "0"], "--seeds must be positive"),
    (["--device", "tpu"], "--device must be auto, cpu or cuda"),
    (["--set", "loss=l1"], "loss: 'l1' is not one of mse, half_sum"),
    (["--set", "dtype=float16"], "dtype: 'float16' is not one of float32, float64"),
    (["--set", "sampling=shuffle"], "sampling: 'shuffle' is not one of pass, replacement"),
    (["--set", "shared_teacher=maybe"], "'maybe' is not a bool"),
    (["--set", "lr=inf"], "OptimConfig.lr: inf is not finite"),
    (["--set", "sigma=nan"], "DataConfig.std: nan is not finite"),
    (["--set", "optim.lr_schedule=0:0.1,5:-inf"], "lr_schedule"),
    (["--set", "teacher.weight_choices=1,inf"], "TeacherConfig.weight_choices"),
])
def test_bad_input_exit_2_nothing_written(tmp_path, args, msg):
    assert_train_refuses(tmp_path / "run", args, msg)


def test_out_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    res = runner.invoke(app, ["train", "--out", str(f), "--steps", "1", "--no-progress"])
    assert res.exit_code == 2 and "not a directory" in res.output
    assert f.read_text() == "x"


def test_unwritable_out_fails_before_training(tmp_path, monkeypatch):
    """An unusable --out is an error before any training (none is run)."""
    import os

    from relulab.cli import train as train_cli

    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions
        os.chmod(locked, 0o700)
        locked = tmp_path / "file"
        locked.write_text("x")
    monkeypatch.setattr(train_cli, "train", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("trained before checking --out")))
    res = runner.invoke(app, ["train", "--out", str(locked / "run"), "--steps", "1",
                              "--no-progress"])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert not (locked / "run").exists() if locked.is_dir() else locked.read_text() == "x"
