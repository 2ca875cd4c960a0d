"""Figures and the HTML report, read back from results folders; rendered in a real browser."""

from __future__ import annotations

import re
import subprocess

import pytest
from sweep_helpers import distinct_colors

from relulab.plots import SweepView, early_epoch, new_figure, plot_all, save_figure
from relulab.report import build_report, format_headline, headline
from relulab.results.store import RESULT_FIELDS, SweepStore, rows_to_table


def test_early_epoch_picks_the_papers_epoch_5_or_the_nearest_before():
    assert early_epoch([0, 1, 2, 5, 10, 100], 100) == 5
    assert early_epoch([0, 4, 8, 12], 12) == 4
    assert early_epoch([0, 10, 20], 20) == 10
    assert early_epoch([0, 1, 2], 2) is None  # would be the final epoch itself
    assert early_epoch([0], 0) is None


def hand_made_sweep(root) -> None:
    """Two cells (p=0, p=2) of m=2, 2 seeds, epochs 0, 5, 9 with known correlations."""
    corr = {  # (p, epoch) -> per seed teacher_best_corr
        (0, 0): [[0.1, 0.2], [0.3, 0.1]], (0, 5): [[0.99, 0.5], [0.97, 0.96]],
        (0, 9): [[0.99, 0.99], [0.98, 0.97]],
        (2, 0): [[0.1, 0.2], [0.3, 0.1]], (2, 5): [[0.5, 0.5], [0.96, 0.2]],
        (2, 9): [[0.99, 0.4], [0.99, 0.3]],
    }
    with SweepStore.open(root) as store:
        cells, rows = [], []
        for p in (0, 2):
            name = f"m=2,multi=3,p={p}"
            cells.append({"name": name, "point": {"m": [2], "multi": 3, "p": float(p)},
                          "config_hash": f"h{p}", "config": {"p": p}})
            for (pp, epoch), per_seed in corr.items():
                if pp != p:
                    continue
                for seed, c in enumerate(per_seed):
                    rows.append({"cell": name, "config_hash": f"h{p}", "seed": seed, "layer": 1,
                                 "epoch": epoch, "final": epoch == 9, "m": 2, "n": 6,
                                 "multi": 3, "p": float(p), "teacher_best_corr": c,
                                 "rho_greedy": sum(c) / 2, "winner_rank": [0, 3],
                                 "student_best_corr": [*c, 0.1, 0.2, 0.3, 0.4],
                                 "student_fanout_norm": [1.0, 0.9, 0.1, 0.1, 0.05, 0.0],
                                 "eval_loss": 0.01 * (1 + p), "diverged": False,
                                 "device": "cpu"})
        store.write_cells([{**c, "config": {}} for c in cells])
        members = sorted({(r["cell"], r["seed"]) for r in rows})
        store.write_batch("x", rows_to_table(rows, RESULT_FIELDS),
                          [{"cell": c, "seed": s, "config_hash": "h"} for c, s in members])
        store.write_manifest({"preset": "hand", "grid": {"m": [[2]], "multi": [3], "p": [0, 2]},
                              "runs": []})


def test_headline_numbers_from_known_rows(tmp_path):
    hand_made_sweep(tmp_path)
    rows = headline(tmp_path)
    assert [r["cell"] for r in rows] == ["m=2,multi=3,p=0", "m=2,multi=3,p=2"]
    p0, p2 = rows
    assert p0["early_epoch"] == 5 and p0["epochs"] == 9 and p0["seeds"] == 2
    assert p0["recovery_early"] == pytest.approx(3 / 4)  # 0.99, 0.97, 0.96 of 4
    assert p0["recovery_final"] == pytest.approx(1.0)
    assert p2["recovery_early"] == pytest.approx(1 / 4)
    assert p2["recovery_final"] == pytest.approx(2 / 4)
    assert p0["rho"][1][0] == pytest.approx((0.99 + 0.975) / 2)
    cols, text = format_headline(rows)
    assert cols[:4] == ["cell", "seeds", "epochs", "ρ̄ L1"] and "rec@5" in cols
    assert text[1][cols.index("rec end")] == "0.500"
    view = SweepView(tmp_path)
    try:
        assert view.keys == ["m", "multi", "p"] and view.facet_keys == ["m", "multi"]
        assert view.panels() == [["m=2,multi=3,p=0", "m=2,multi=3,p=2"]]
        assert view.facet_label("m=2,multi=3,p=2") == "m=2, multi=3"
    finally:
        view.close()
    paths = plot_all(tmp_path, theory=False)
    assert len(paths) == 8 and all(p.stat().st_size > 1000 for p in paths)
    # theory figures stored with the sweep are listed and embedded
    (tmp_path / "theory").mkdir()
    (tmp_path / "theory" / "phase.png").write_bytes((tmp_path / "figures" / "rho.png").read_bytes())
    assert plot_all(tmp_path)[-1] == tmp_path / "theory" / "phase.png"
    html = build_report(tmp_path).read_text()
    assert html.count("data:image/png;base64,") == 5 and "phase" in html


def test_report_is_self_contained_and_renders_in_headless_chromium(finished_sweep, tmp_path,
                                                                   chromium):
    html_path = build_report(finished_sweep, tmp_path / "report.html",
                             figures_dir=tmp_path / "figs")
    text = html_path.read_text()
    assert text.count("data:image/png;base64,") == 4
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", text)  # nothing external
    for needle in ("Headline numbers", "m=3,p=1", "teacher_widths", "torch", "ρ̄ L1"):
        assert needle in text
    shot = tmp_path / "shot.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1200,900", html_path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    assert distinct_colors(shot) > 200  # text, tables and figure colours, not a blank page


def test_blank_page_has_few_colours(tmp_path, chromium):
    """The non-blank check above can fail: an empty page gives a single colour."""
    page = tmp_path / "blank.html"
    page.write_text("<html><body></body></html>")
    shot = tmp_path / "blank.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=400,300", page.as_uri()], capture_output=True, timeout=120)
    assert distinct_colors(shot) < 5


def test_report_tolerates_a_missing_manifest_and_cells(tmp_path):
    hand_made_sweep(tmp_path)
    (tmp_path / "manifest.json").unlink()
    for p in (tmp_path / "cells").iterdir():
        p.unlink()
    path = build_report(tmp_path)
    assert "m=2,multi=3,p=2" in path.read_text()


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_save_figure_writes_by_suffix_atomically(tmp_path, suffix, magic):
    fig = new_figure(2, 1.5)
    fig.subplots().plot([0, 1], [1, 0])
    target = tmp_path / f"f{suffix}"
    assert save_figure(fig, target) == target
    assert target.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temp file left
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        save_figure(fig, tmp_path / "f.pdf")
    assert not (tmp_path / "f.pdf").exists()
