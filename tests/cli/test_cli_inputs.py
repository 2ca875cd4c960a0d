"""`relulab train` inputs and outputs: config files, seed ranges, a finished run in --out,
--steps 0, and `relulab presets` (list, show, keys)."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from cli_checks import run_rows
from typer.testing import CliRunner

from relulab.cli import app
from relulab.config import config_from_dict
from relulab.config.inputs import parse_seeds
from relulab.config.presets import REGISTRY, find_preset, get_preset

runner = CliRunner()
TINY = ["--device", "cpu", "--no-progress", "--steps", "3", "--set", "N=64",
        "--set", "data.eval_size=32"]


def train(*args: str):
    return runner.invoke(app, ["train", *[str(a) for a in args]])


def files(folder) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def csv_tables(text: str) -> list[list[dict]]:
    """The CSV tables of a piped command (separated by blank lines), as row dicts."""
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    return [list(csv.DictReader(io.StringIO(b))) for b in blocks]


def test_presets_list_show_and_keys():
    listed = runner.invoke(app, ["presets"])
    assert listed.exit_code == 0
    rows = {r["name"]: r for r in csv_tables(listed.output)[0]}
    assert set(rows) == set(REGISTRY)
    assert rows["real-digits-fc"]["commands"] == "train only"
    assert rows["real-digits-fc"]["kind"] == "real"
    assert rows["demo"]["commands"] == "train, sweep"
    shown = runner.invoke(app, ["presets", "show", "demo"])
    assert shown.exit_code == 0
    assert config_from_dict(json.loads(shown.output)).hash() == get_preset("demo").hash()
    real = runner.invoke(app, ["presets", "show", "real-digits-conv"])
    assert real.exit_code == 0 and json.loads(real.output)["kind"] == "conv"
    keys = {r["key"]: r for r in csv_tables(runner.invoke(app, ["presets", "keys"]).output)[0]}
    assert keys["optim.lr"]["type"] == "float" and keys["optim.lr"]["aliases"] == "lr"
    assert keys["teacher.widths"]["type"] == "list of int"
    assert keys["student.widths"]["default"] == "none" and "stats_every" in keys
    bad = runner.invoke(app, ["presets", "show", "nope"])
    assert bad.exit_code == 2 and bad.output.startswith("error: unknown preset 'nope'")


def test_real_presets_are_train_only():
    assert find_preset("real-digits-fc").commands == ("train",)
    with pytest.raises(ValueError, match="train only"):
        get_preset("real-digits-fc")
    res = runner.invoke(app, ["sweep", "real-digits-fc", "--out", "x"])
    assert res.exit_code == 2 and "train only" in res.output


@pytest.mark.parametrize("text,seeds", [("3", (0, 1, 2)), ("8:11", (8, 9, 10)),
                                        ("1,5,9", (1, 5, 9)), (" 2 ", (0, 1))])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "-2", "5:5", "3:1", "a", "1,1", "1,-2", "1:2:3", ""])
def test_bad_seeds_one_line_exit_2(tmp_path, text):
    res = train("--seeds", text, "--out", tmp_path / "r", *TINY)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith("error: --seeds") and not (tmp_path / "r").exists()


def comparable(row: dict) -> dict:
    """A row without its position in the run (``member``), NaN made equal to itself."""
    return {k: "nan" if isinstance(v, float) and math.isnan(v) else v
            for k, v in row.items() if k != "member"}


def test_seed_range_rows_equal_those_of_the_full_range(tmp_path):
    assert train("--seeds", "4", "--out", tmp_path / "all", *TINY).exit_code == 0
    assert train("--seeds", "2:4", "--out", tmp_path / "part", *TINY).exit_code == 0
    timing = {"batch_id", "batch_seconds", "batch_members", "started_at", "finished_at"}
    for name in ("scalars", "layers"):
        full, part = run_rows(tmp_path / "all", name), run_rows(tmp_path / "part", name)
        full = [{k: v for k, v in r.items() if k not in timing} for r in full]
        part = [{k: v for k, v in r.items() if k not in timing} for r in part]
        assert [comparable(r) for r in part] == [comparable(r) for r in full if r["seed"] >= 2]
    assert json.loads((tmp_path / "part" / "manifest.json").read_text())["seeds"] == [2, 3]


def test_config_json_of_a_run_round_trips_to_the_same_hash(tmp_path):
    first = tmp_path / "first"
    assert train("--seeds", "1", "--out", first, "--set", "lr=0.03", *TINY).exit_code == 0
    again = tmp_path / "again"
    res = train("--config", first / "config.json", "--seeds", "1", "--out", again, *TINY[:5])
    assert res.exit_code == 0, res.output
    hashes = [json.loads((d / "manifest.json").read_text())["config_hash"]
              for d in (first, again)]
    assert hashes[0] == hashes[1]
    assert config_from_dict(json.loads((again / "config.json").read_text())).hash() == hashes[0]


@pytest.mark.parametrize("name,text", [
    ("c.toml", 'preset = "demo"\n[set]\nlr = 0.03\nN = 64\n"data.eval_size" = 32\n'),
    ("c.yaml", "preset: demo\nset:\n  lr: 0.03\n  N: 64\n  data.eval_size: 32\n"),
    ("c.json", '{"preset": "demo", "set": {"lr": 0.03, "N": 64, "data.eval_size": 32}}'),
])
def test_partial_config_files(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    res = train("--config", path, "--seeds", "1", "--out", tmp_path / "r", *TINY[:5])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["optim"]["lr"] == 0.03 and cfg["data"]["train_size"] == 64


@pytest.mark.parametrize("name,text,msg", [
    ("bad.json", '{"preset": "demo",', "not valid JSON"),
    ("bad.toml", "preset = ", "not valid TOML"),
    ("bad.yaml", "a: [1, 2", "not valid YAML"),
    ("list.json", "[1, 2]", "expected a mapping"),
    ("key.json", '{"preset": "demo", "set": {"bogus": 1}}', "unknown config key 'bogus'"),
    ("top.json", '{"teacher": {"widths": [3]}, "bogus": 1}', "unknown key 'bogus'"),
    ("field.json", '{"teacher": {"nope": 3}}', "nope"),
    ("value.json", '{"optim": {"lr": -1}}', "lr"),
    ("c.ini", "x", "unknown suffix"),
    ("missing.json", None, "missing.json"),
])
def test_malformed_config_one_line_exit_2(tmp_path, name, text, msg):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    res = train("--config", path, "--out", tmp_path / "r", *TINY)
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and msg in lines[0], res.output
    assert not (tmp_path / "r").exists()


def test_preset_and_config_together_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"preset": "demo"}')
    res = train("--preset", "demo", "--config", path, *TINY)
    assert res.exit_code == 2 and "give one of them" in res.output


def test_finished_run_in_out(tmp_path):
    out = tmp_path / "run"
    assert train("--seeds", "1", "--out", out, *TINY).exit_code == 0
    before = files(out)
    same = train("--seeds", "1", "--out", out, *TINY)
    assert same.exit_code == 0 and "already finished" in same.output
    assert files(out) == before
    other = train("--seeds", "1", "--out", out, *TINY, "--set", "lr=0.03")
    assert other.exit_code == 2 and len(other.output.strip().splitlines()) == 1
    old = json.loads((out / "manifest.json").read_text())["config_hash"]
    assert old in other.output and "--overwrite" in other.output
    new = other.output.split("this command's config ")[1].split()[0]
    assert new != old and len(new) == len(old)
    more = train("--seeds", "2", "--out", out, *TINY)
    assert more.exit_code == 2 and "seeds [0]" in more.output
    assert files(out) == before
    replaced = train("--seeds", "1", "--out", out, *TINY, "--set", "lr=0.03", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / "config.json").read_text())["optim"]["lr"] == 0.03


def test_zero_steps_one_initial_row_per_seed(tmp_path):
    out = tmp_path / "run"
    res = train("--seeds", "2", "--out", out, "--device", "cpu", "--no-progress", "--steps",
                "0", "--set", "N=64", "--set", "data.eval_size=32")
    assert res.exit_code == 0, res.output
    layers = run_rows(out)
    keys = [(r["seed"], r["layer"]) for r in layers]
    assert len(keys) == len(set(keys)) and {s for s, _ in keys} == {0, 1}
    assert all(r["epoch"] == 0 and r["final"] for r in layers)
    per_seed, summary = csv_tables(res.stdout)
    assert [r["seed"] for r in per_seed] == ["0", "1"]
    assert {r["seeds"] for r in summary} == {"2"}


def test_train_tables_fit_pipes_and_formats(tmp_path):
    res = train("--seeds", "2", *TINY)
    assert res.exit_code == 0
    per_seed, summary = csv_tables(res.stdout)
    assert all(float(r["train loss"]) > 0 for r in per_seed)
    assert {"rho_greedy_mean", "rho_hungarian_std"} <= set(summary[0])
    as_json = train("--seeds", "2", "--format", "json", *TINY)
    docs = [json.loads(line) for line in as_json.stdout.strip().splitlines()]
    assert [r["seed"] for r in docs[0]] == [0, 1] and isinstance(docs[0][0]["eval loss"], float)
    tsv = train("--seeds", "2", "--format", "tsv", *TINY)
    assert tsv.stdout.splitlines()[0].split("\t") == ["seed", "train loss", "eval loss",
                                                      "status"]
    drawn = train("--seeds", "2", "--format", "table", *TINY)
    assert "┃ seed" in drawn.stdout or "seed" in drawn.stdout.splitlines()[1]
    bad = train("--format", "xml", *TINY)
    assert bad.exit_code == 2 and "--format must be one of" in bad.output
