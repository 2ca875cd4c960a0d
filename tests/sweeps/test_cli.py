"""`relulab sweep | query | plot | report`: output, files, and one-line exit-2 errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sweep_helpers import CLI_SET, distinct_colors
from typer.testing import CliRunner

from relulab.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], lines


def test_sweep_runs_and_resumes(tmp_path):
    out = tmp_path / "s"
    args = ["sweep", "demo", "--grid", "p=0,1", "--seeds", "2", "--out", out, "--no-progress",
            "--max-members", "2", *CLI_SET]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "0 members already done, 4 run in 2 batches" in first.output
    second = invoke(*args)
    assert second.exit_code == 0 and "4 members already done, 0 run in 0 batches" in \
        second.output
    q = invoke("query", out, "SELECT cell, count(*) AS n FROM results GROUP BY cell ORDER BY cell")
    assert q.exit_code == 0
    assert "p=0" in q.output and "p=1" in q.output and "6" in q.output


@pytest.mark.parametrize("extra, message", [
    (["--grid", "bogus=1,2"], "unknown config key 'bogus'"),
    (["--grid", "m="], "empty list"),
    (["--grid", "multi=1,x"], "'x' is not an integer"),
    (["--grid", "m=3,0"], "grid point m=0"),
    (["--grid", "p=0", "--grid", "p=1"], "given twice"),
    (["--executor", "bogus"], "unknown executor 'bogus'"),
    (["--address", "auto"], "--address only apply to --executor ray"),
    (["--seeds", "0"], "--seeds must be positive"),
    (["--set", "p=2", "--grid", "p=0,1"], "both in --set and --grid"),
    (["--device", "tpu"], "--device must be auto, cpu or cuda"),
])
def test_bad_sweep_input_is_one_line_exit_2_and_writes_nothing(tmp_path, extra, message):
    out = tmp_path / "s"
    result = invoke("sweep", "demo", "--out", out, "--no-progress", *CLI_SET, *extra)
    assert_one_line_error(result, message)
    assert not (out / "results").exists() and not (out / "cells").exists()


def test_unknown_preset_and_bad_folders(tmp_path):
    assert_one_line_error(invoke("sweep", "nope", "--out", tmp_path / "s"), "unknown preset")
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    assert_one_line_error(invoke("sweep", "demo", "--out", a_file, *CLI_SET),
                          "not a directory")
    assert a_file.read_text() == "keep me"
    assert_one_line_error(invoke("sweep", "demo", "--out", a_file / "x", *CLI_SET),
                          "cannot create")
    for cmd in (["query", tmp_path, "SELECT 1"], ["plot", tmp_path], ["report", tmp_path]):
        assert_one_line_error(invoke(*cmd), "no sweep results")
    assert_one_line_error(invoke("plot", tmp_path / "missing"), "does not exist")


def test_conflicting_config_keeps_existing_results(tmp_path):
    out = tmp_path / "s"
    ok = invoke("sweep", "demo", "--grid", "p=0", "--seeds", "1", "--out", out, "--no-progress",
                *CLI_SET)
    assert ok.exit_code == 0, ok.output
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    clash = invoke("sweep", "demo", "--grid", "p=0", "--seeds", "2", "--out", out,
                   "--no-progress", *CLI_SET, "--set", "lr=0.02")
    assert_one_line_error(clash, "different config")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_query_output_and_errors(finished_sweep, tmp_path):
    shown = invoke("query", finished_sweep, "SELECT * FROM recovery ORDER BY cell")
    assert shown.exit_code == 0 and "teacher_node" in shown.output
    many = invoke("query", finished_sweep, "SELECT * FROM results")
    assert many.exit_code == 0 and "first 50 shown" not in many.output  # 36 rows
    counted = invoke("query", finished_sweep, "SELECT count(*) AS n FROM results")
    assert counted.exit_code == 0 and counted.output.splitlines() == ["n", "36"]
    dest = tmp_path / "r.csv"
    wrote = invoke("query", finished_sweep, "SELECT cell, seed FROM results", "--to", dest)
    assert wrote.exit_code == 0 and len(dest.read_text().splitlines()) == 37
    assert_one_line_error(invoke("query", finished_sweep, "SELEC oops"), "query failed")
    assert_one_line_error(invoke("query", finished_sweep, "SELECT 1", "--to", tmp_path / "a.x"),
                          ".csv or .parquet")


def test_query_in_a_pipe_is_csv_never_wrapped(finished_sweep):
    """CliRunner's stdout is not a terminal: the rows come as CSV, one line per row, every
    number whole (a drawn table would fold long cells and wrap at 80 columns)."""
    import csv
    import io
    import json

    sql = "SELECT cell, seed, epoch, rho_greedy, rho_hungarian, teacher_best_corr FROM results " \
          "ORDER BY cell, seed, layer, epoch"
    res = invoke("query", finished_sweep, sql, "--limit", "0")
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["cell", "seed", "epoch", "rho_greedy", "rho_hungarian",
                       "teacher_best_corr"]
    assert len(rows) == 37 and all(len(r) == 6 for r in rows)
    for row in rows[1:]:
        float(row[3]), float(row[4]), int(row[1])
        assert all(isinstance(x, float) for x in json.loads(row[5]))
    as_json = json.loads(invoke("query", finished_sweep, sql, "--format", "json").stdout)
    assert len(as_json) == 36 and isinstance(as_json[0]["teacher_best_corr"], list)
    tsv = invoke("query", finished_sweep, "SELECT cell, seed FROM results", "--format", "tsv")
    assert tsv.stdout.splitlines()[0] == "cell\tseed"
    few = invoke("query", finished_sweep, sql, "--limit", "5")
    assert len(few.stdout.splitlines()) == 6 and "36 rows, first 5 shown" in few.output


def test_recovery_table_dash_for_an_epoch_never_recorded(finished_sweep):
    from relulab.experiments.tables import recovery_table

    never = recovery_table(finished_sweep, "t", early=99)  # the runs have 2 epochs
    for row in never.rows:
        assert row[2].startswith("– / ") and row[3].startswith("– / "), row
    recorded = recovery_table(finished_sweep, "t", early=1)
    assert not any(row[2].startswith("–") or row[3].startswith("–") for row in recorded.rows)


def test_plot_writes_png_and_svg_figures(finished_sweep, tmp_path):
    result = invoke("plot", finished_sweep, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.iterdir()}
    for stem in ("recovery_layer1", "lshape_layer1", "rho", "winner_rank_layer1"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
        assert distinct_colors(tmp_path / f"{stem}.png") > 50
        root = ET.parse(tmp_path / f"{stem}.svg").getroot()
        assert root.tag.endswith("svg")
    assert not [n for n in names if n.endswith(".tmp")]


def test_recovery_table_script(finished_sweep):
    """scripts/recovery_table.py (the README's table) reads a results folder."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[2] / "scripts" / "recovery_table.py"
    out = subprocess.run([sys.executable, str(script), str(finished_sweep), "1"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("| m | multi | p | seeds | mean rate @1 / end")
    rows = [[c.strip() for c in r.split("|")[1:5]] for r in out[2:]]
    assert rows == [["2", "4", "0", "3"], ["2", "4", "1", "3"], ["3", "4", "0", "3"],
                    ["3", "4", "1", "3"]]  # cells m=2,3 x p=0,1 (multi 4), 3 seeds each


def test_query_is_read_only_and_sees_only_the_results_folder(finished_sweep, tmp_path):
    """The query sandbox: no reading outside the sweep, no writing anywhere, no reconfiguring."""
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    target = finished_sweep / "results" / "evil.csv"
    for sql, msg in ((f"SELECT * FROM read_csv('{outside}')", "query failed"),
                     ("SELECT * FROM glob('/*')", "query failed"),
                     (f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'", "only one read query"),
                     (f"COPY (SELECT 1) TO '{target}'", "only one read query"),
                     ("SET enable_external_access = true", "only one read query"),
                     (f"ATTACH '{tmp_path / 'db.duckdb'}'", "only one read query"),
                     ("CREATE TABLE t AS SELECT 1", "only one read query"),
                     ("SELECT 1; SELECT 2", "only one read query")):
        assert_one_line_error(invoke("query", finished_sweep, sql), msg)
    assert not target.exists() and not (tmp_path / "x.csv").exists()
    assert not (tmp_path / "db.duckdb").exists()
    ok = invoke("query", finished_sweep, "WITH a AS (SELECT count(*) AS n FROM results) "
                "SELECT n FROM a")
    assert ok.exit_code == 0 and ok.output.splitlines() == ["n", "36"]
