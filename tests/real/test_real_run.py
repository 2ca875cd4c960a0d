import json

import pytest
import torch
from cli_checks import assert_train_refuses, run_rows
from typer.testing import CliRunner

from relulab.cli import app
from relulab.config import ConfigError
from relulab.real.config import REAL_PRESETS, get_real_preset, with_real_overrides
from relulab.real.datasets import load_split
from relulab.real.experiment import run_real
from relulab.real.source import RealSource

runner = CliRunner()
TINY = ["--set", "real.widths=12,12,12", "--set", "real.pruned_widths=4,4,4",
        "--set", "real.teacher_epochs=3", "--set", "real.finetune_epochs=1", "--set", "multi=3"]


def test_source_same_inputs_per_seed_own_shuffles():
    x = torch.arange(10.0).reshape(5, 2)
    src = RealSource(x, x[:3], seeds=[0, 1])
    assert torch.equal(src.eval_inputs()[1], x[:3]) and src.eval_inputs().shape == (2, 3, 2)
    stream = src.stream(5)
    batch, _ = stream.next()  # one full pass: each seed sees every sample once
    for s in range(2):
        assert sorted(batch[s, :, 0].tolist()) == x[:, 0].tolist()
    assert not torch.equal(batch[0], batch[1])


def test_overrides_split_teacher_and_student():
    cfg = with_real_overrides(get_real_preset("real-digits-fc"),
                              {"real.prune": "magnitude", "real.widths": "9,9,9",
                               "real.pruned_widths": "3,3,3", "multi": "2"})
    assert cfg.prune == "magnitude" and cfg.widths == (9, 9, 9) and cfg.run.student.multi == 2
    assert cfg.pruned_widths == (3, 3, 3)
    with pytest.raises(ConfigError, match="unknown config key 'real.nope'"):
        with_real_overrides(cfg, {"real.nope": "1"})
    with pytest.raises(ConfigError, match="cannot prune 9 nodes to 32"):
        with_real_overrides(get_real_preset("real-digits-fc"), {"real.widths": "9,9,9"})


def test_student_learns_the_digits_teacher():
    """Tiny FC teacher on digits; a 4x student trained 6 epochs: the eval loss falls well
    below its initial value and the lowest layer's rho-bar rises above its value at init."""
    cfg = with_real_overrides(get_real_preset("real-digits-fc"), {
        "real.widths": "16,16", "real.pruned_widths": "8,8", "real.teacher_epochs": "4",
        "real.finetune_epochs": "3", "multi": "4", "lr": "0.05", "epochs": "6"})
    split = load_split("digits", kind="fc", image_size=8)
    res = run_real(cfg, [0, 1], split=split)
    assert res.cfg.run.teacher.widths == (8, 8) and res.cfg.run.data.train_size == 1348
    assert all(t.accuracy > 0.6 for t in res.teachers)  # chance: 0.1
    first = [r for r in res.result.rows if r["epoch"] == 1]
    last = [r for r in res.result.rows if r["epoch"] == 6]
    assert all(b["eval_loss"] < 0.5 * a["eval_loss"] for a, b in zip(first, last, strict=True))
    rows = res.recorder.rows
    init = [r["rho_greedy"] for r in rows if r["epoch"] == 0 and r["layer"] == 1]
    end = [r["rho_greedy"] for r in rows if r["final"] and r["layer"] == 1]
    assert all(e > i + 0.05 for i, e in zip(init, end, strict=True)), (init, end)


def test_cli_real_digits_writes_and_reuses_teachers(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--preset", "real-digits-fc", "--seeds", "2", "--steps", "10",
            "--device", "cpu", "--out", str(out), "--no-progress", *TINY]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["preset"] == "real-digits-fc" and man["real"]["pruned_widths"] == [4, 4, 4]
    accs = [t["accuracy"] for t in man["teachers"]]
    assert len(accs) == 2 and all(0.1 < a <= 1 for a in accs)
    assert not any(t["cached"] for t in man["teachers"])
    for s in (0, 1):
        assert (out / "teachers" / f"seed-{s}.safetensors").is_file()
    rows = run_rows(out)
    assert {r["layer"] for r in rows} == {1, 2, 3} and len(rows[0]["teacher_best_corr"]) == 4
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    man2 = json.loads((out / "manifest.json").read_text())
    assert all(t["cached"] for t in man2["teachers"])
    assert [t["accuracy"] for t in man2["teachers"]] == accs
    bn = runner.invoke(app, ["bn-bias", "--weights",
                             str(out / "teachers" / "seed-0-trained.safetensors")])
    assert bn.exit_code == 0 and "features.1" in bn.output, bn.output


def test_cli_real_cifar_conv_on_written_batches(cifar_root, tmp_path):
    root, _ = cifar_root
    res = runner.invoke(app, [
        "train", "--preset", "real-cifar10-conv", "--data-root", str(root), "--seeds", "1",
        "--steps", "3", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run"),
        "--set", "real.widths=3,3,3,3", "--set", "real.pruned_widths=2,2,2,2",
        "--set", "real.teacher_epochs=1", "--set", "real.finetune_epochs=0",
        "--set", "multi=2"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["teacher"]["input_channels"] == 3 and cfg["teacher"]["image_size"] == 32
    assert cfg["data"]["train_size"] == 60 and cfg["data"]["eval_size"] == 12
    rows = run_rows(tmp_path / "run")
    assert {len(r["student_best_corr"]) for r in rows} == {4}  # 2 channels x multi 2


@pytest.mark.parametrize("args,msg", [
    (["--preset", "real-cifar10-fc"], "need --data-root"),
    (["--preset", "real-cifar10-fc", "--data-root", "/nonexistent"],
     "cifar-10-batches-bin/data_batch_1.bin"),
    (["--preset", "real-digits-fc", "--set", "real.bogus=1"], "unknown config key 'real.bogus'"),
    (["--preset", "real-digits-fc", "--set", "real.prune=random"],
     "'random' is not one of magnitude, activation"),
    (["--preset", "real-digits-fc", "--set", "real.pruned_widths=500,1,1"], "cannot prune"),
    (["--preset", "real-digits-fc", "--set", "real.widths"], "is not key=value"),
])
def test_real_bad_input_exit_2(tmp_path, args, msg):
    assert_train_refuses(tmp_path / "run", args, msg)


def test_presets_listed():
    res = runner.invoke(app, ["presets"])
    assert all(name in res.output for name in REAL_PRESETS)
