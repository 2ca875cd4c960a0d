import pytest
from typer.testing import CliRunner

from relulab.cli import app

runner = CliRunner()


def _ok(args):
    res = runner.invoke(app, ["theory", *args])
    assert res.exit_code == 0, res.output
    return res.output


def test_saddles_table_and_figure(tmp_path):
    fig = tmp_path / "phase.png"
    out = _ok(["saddles", "--K", "2..3", "--grid", "7", "--figure", str(fig)])
    assert "0.534155" in out and "0.382024" in out
    assert fig.stat().st_size > 1000 and fig.read_bytes()[:4] == b"\x89PNG"


def test_converge_and_ssb_and_svg(tmp_path):
    fig = tmp_path / "conv.svg"
    out = _ok(["converge", "--d", "3", "--std", "0.1", "--inits", "20", "--t-max", "40",
               "--figure", str(fig)])
    assert "1.0000" in out and fig.read_text().lstrip().startswith("<?xml")
    out = _ok(["ssb", "--K", "3", "--trials", "4", "--max-steps", "3000"])
    assert "4/4" in out


def test_thm5_and_rule_check(tmp_path):
    out = _ok(["thm5", "--iters", "20", "--figure", str(tmp_path / "t5.png")])
    assert "aligned" in out and (tmp_path / "t5.png").exists()
    out = _ok(["rule-check", "--depths", "1,2", "--samples", "128"])
    assert "Theorem 1" in out and "top hidden" in out


@pytest.mark.parametrize("args,msg", [
    (["saddles", "--K", "1"], "--K values must be >= 2"),
    (["saddles", "--K", "two"], "is not a list like"),
    (["saddles", "--K", "3", "--figure", "x.pdf"], "--figure must end in .png or .svg"),
    (["converge", "--d", "5", "--std", "-1"], "--std values must be positive"),
    (["converge", "--inits", "0"], "--inits must be >= 1"),
    (["ssb", "--K", "1"], "--K must be >= 2"),
    (["ssb", "--noise", "0"], "--noise must be > 0"),
    (["thm5", "--update", "sgd"], "update must be matrix, matrix_orig or exact"),
    (["thm5", "--device", "tpu"], "--device must be auto, cpu or cuda"),
    (["rule-check", "--depths", "0"], "--depths values must be >= 1"),
    (["rule-check", "--slope", "2"], "--slope must be in [0, 1]"),
])
def test_bad_arguments_exit_2_with_one_line(args, msg):
    res = runner.invoke(app, ["theory", *args])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], res.output
