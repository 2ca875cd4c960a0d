"""The report's "Fidelity" section from a ``relulab validate`` result (validate.json), alone
and beside a sweep."""

from __future__ import annotations

import math
import re

import pytest
from test_plots_report import hand_made_sweep

from relulab.fidelity.claims import VALIDATE_FILE, Claim, fisher_claim, write_claims
from relulab.report import build_report, has_sweep_results
from relulab.report.fidelity import format_statistic
from relulab.results.store import StoreError

CLAIMS = [
    Claim("two-layer p=2, after 5 epochs", "node 3 successes", "30/32", "6/8",
          "reference/original_two_layer_32seeds.json", "Fisher p", 0.61234, "p ≥ 0.01", True,
          0.1875, -0.1012, 0.3849, 0.25, 0.52, "inconclusive", 96, "needs 96 seeds"),
    Claim("theory", "Theorem 1 vs autograd", "0.91", "0.534155", "paper §4 <eq. 7>",
          "|diff|", math.nan, "|diff| ≤ 1e-6", False),
    fisher_claim("two-layer p=0, final", "node 0 successes", (64, 64), (32, 32), "ref"),
]


def write_validate(root) -> None:
    write_claims(root / VALIDATE_FILE, CLAIMS, mode="quick", started_at="2025-01-02T03:04:05",
                 seconds=12.3, versions={"relulab": "0.1.0", "torch": "9.9"})


def fidelity_rows(text: str) -> list[tuple[str, str]]:
    """(row class, row html) of the fidelity table."""
    table = re.search(r"<table class='fidelity'>.*?</table>", text, re.S)
    assert table is not None
    return re.findall(r"<tr class='(\w+)'>(.*?)</tr>", table.group(0))


def test_statistic_has_three_significant_digits_or_a_dash():
    assert format_statistic("Fisher p", 0.012345) == "Fisher p = 0.0123"
    assert format_statistic("Welch p", 1234.5) == "Welch p = 1.23e+03"
    assert format_statistic("Welch p", math.nan) == "Welch p = –"


def test_validate_result_alone_gives_a_fidelity_report(tmp_path):
    write_validate(tmp_path)
    assert not has_sweep_results(tmp_path)
    text = build_report(tmp_path).read_text()
    assert "<h2>Fidelity</h2>" in text
    assert "3 claims: 1 agree, 1 differ, 1 inconclusive" in text
    assert "mode quick" in text and "2025-01-02T03:04:05" in text
    rows = fidelity_rows(text)
    assert [cls for cls, _ in rows] == ["inconclusive", "differs", "agrees"]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for _, row in rows]
    assert cells[0] == ["two-layer p=2, after 5 epochs", "node 3 successes", "30/32", "6/8",
                        "Fisher p = 0.612", "+0.188 [-0.101, +0.385]", "±0.25", "0.52",
                        "inconclusive (≥ 96 seeds): needs 96 seeds",
                        "reference/original_two_layer_32seeds.json"]
    assert cells[1][4:9] == ["|diff| = –", "–", "|diff| ≤ 1e-6", "–", "differs"]
    assert cells[1][9] == "paper §4 &lt;eq. 7&gt;"  # escaped
    assert cells[2][5].startswith("+0 [-0.0") and cells[2][8] == "agrees"
    assert re.search(r"tr\.differs td\{color:#b00020", text)  # differing rows drawn red
    # no sweep: no headline numbers, figures or configuration; versions of the validate run
    for absent in ("Headline numbers", "<h2>Figures</h2>", "<h2>Configuration</h2>", "preset"):
        assert absent not in text
    assert "<td>torch</td><td>9.9</td>" in text
    assert not (tmp_path / "figures").exists()


def test_validate_result_beside_a_sweep_follows_the_headline(tmp_path):
    hand_made_sweep(tmp_path)
    write_validate(tmp_path)
    assert has_sweep_results(tmp_path)
    text = build_report(tmp_path).read_text()
    headline, fidelity, figures = (text.index(s) for s in (
        "<h2>Headline numbers</h2>", "<h2>Fidelity</h2>", "<h2>Figures</h2>"))
    assert headline < fidelity < figures
    assert "m=2,multi=3,p=2" in text and "1 differ" in text
    assert [cls for cls, _ in fidelity_rows(text)] == ["inconclusive", "differs", "agrees"]
    assert text.count("data:image/png;base64,") == 4


def test_sweep_without_validate_result_has_no_fidelity_section(tmp_path):
    hand_made_sweep(tmp_path)
    text = build_report(tmp_path).read_text()
    assert "Headline numbers" in text
    assert "Fidelity" not in text and "fidelity" not in text


def test_folder_with_neither_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no sweep results"):
        build_report(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        build_report(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_unreadable_validate_result_is_a_store_error(tmp_path):
    (tmp_path / VALIDATE_FILE).write_text("{not json")
    with pytest.raises(StoreError, match="not a readable validate result"):
        build_report(tmp_path)
