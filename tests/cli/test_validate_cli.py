"""``relulab validate`` end to end: the quick suite has no differing row, a differing row exits
1, bad input exits 2."""

import csv
import json
import re

from typer.testing import CliRunner

from relulab.cli import app
from relulab.config import with_overrides
from relulab.fidelity import original

runner = CliRunner()


def test_quick_suite_passes_and_report_has_fidelity(tmp_path):
    out = tmp_path / "fid"
    res = runner.invoke(app, ["validate", "--quick", "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "validate.json").read_text())
    claims = data["claims"]
    assert data["mode"] == "quick" and len(claims) >= 40
    assert data["two_layer_seeds"] == 32 and data["luck_seeds"] == 4
    assert all(c["passed"] and c["verdict"] != "differs" for c in claims)
    stats_rows = [c for c in claims if c["statistic"] in ("Fisher p", "Welch p")]
    assert stats_rows and all(c["margin"] > 0 and c["detectable"] > 0 for c in stats_rows)
    assert all(c["ci_low"] <= c["difference"] <= c["ci_high"] for c in stats_rows
               if c["ci_low"] is not None)
    groups = {c["group"] for c in claims}
    assert {"two-layer p=0, final", "two-layer p=2, after 5 epochs", "theory"} <= groups
    assert any(g.startswith("Luck Matters FC") for g in groups)
    n = {v: sum(c["verdict"] == v for c in claims) for v in ("agrees", "inconclusive")}
    counts = f"{n['agrees']} agree, 0 differ, {n['inconclusive']} inconclusive"
    assert f"{len(claims)} claims: {counts}" in res.output
    # not a terminal: CSV tables on stdout, one line per claim, never wrapped
    lines = [row for row in csv.reader(res.stdout.splitlines()) if row]
    header = lines[0]
    assert header[:2] == ["group", "claim"] and header[-1] == "verdict"
    body = [row for row in lines if row != header]
    assert len(body) == len(claims) and all(len(row) == len(header) for row in body)
    assert {row[-1] for row in body} <= {"agrees", "inconclusive"}
    rep = runner.invoke(app, ["report", str(out)])
    assert rep.exit_code == 0, rep.output
    html = (out / "report.html").read_text()
    assert "Fidelity" in html and counts in html and "margin" in html


def test_a_failing_claim_exits_1(tmp_path, monkeypatch):
    cfg = with_overrides(original.two_layer_config(), {"loss": "mse"})
    monkeypatch.setattr(original, "two_layer_config", lambda ref=None: cfg)
    out = tmp_path / "fid"
    res = runner.invoke(app, ["validate", "--only", "two-layer", "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert re.search(r"claims: \d+ agree, [1-9]\d* differ,", res.output), res.output
    claims = json.loads((out / "validate.json").read_text())["claims"]
    assert any(c["verdict"] == "differs" and not c["passed"] for c in claims)


def test_bad_input_is_one_line_exit_2(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for args, msg in ((["--only", "nope"], "unknown check 'nope'"),
                      (["--out", str(f)], "not a directory"),
                      (["--device", "tpu"], "--device must be"),
                      (["--seeds", "1"], "--seeds must be >= 2")):
        res = runner.invoke(app, ["validate", *args])
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and msg in lines[0], res.output
    assert f.read_text() == "x"
