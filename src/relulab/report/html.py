"""One self-contained HTML report of a sweep: headline numbers, the fidelity claims of a
``relulab validate`` result when the folder has one, figures (embedded as base64 PNG), the
configuration, versions and times. Reads only the results folder."""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relulab.config.grid import format_point_value
from relulab.config.ids import iso_time
from relulab.plots import SweepView, early_epoch, plot_all
from relulab.report.fidelity import FIDELITY_STYLE, fidelity_section, read_validate, run_line
from relulab.results.query import results_dir
from relulab.results.schema import RECOVERY_THRESHOLD, config_columns
from relulab.results.store import SweepStore, write_text

CAPTIONS = {
    "recovery": "Successful recovery rate of each teacher node (fraction of seeds in which some "
                f"student node reaches eval correlation > {RECOVERY_THRESHOLD} with it), one "
                "curve per fan-out decay p; solid: end of training, dotted: after ~5 epochs.",
    "lshape": "L-shape: each student node's best correlation with a teacher node vs the norm of "
              "its fan-out weights, at the end of training.",
    "rho": "ρ̄ (mean over teacher nodes of the best student correlation) over epochs: median "
           "over seeds, band 10–90 % of seeds.",
    "winner_rank": "Luck: rank at initialization (by correlation with the teacher node) of the "
                   "student node that ends up as each teacher node's best match.",
    "overlay_two_layer": "Theory against simulation (relulab theory overlay): J(t), mean "
                         "student–teacher angle and relative weight deviation of SGD with fresh "
                         "samples (median, 10–90 % band over seeds, t = lr × steps) against the "
                         "population gradient flow from the same init (dashed).",
    "overlay_matrix_form": "Matrix-form update H*W̃*L*ᵀ − HW̃Lᵀ against the actual expected "
                           "gradient per weight layer along training: relative error, median "
                           "and min–max over seeds.",
}


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def headline(root: str | os.PathLike, view: SweepView | None = None) -> list[dict[str, Any]]:
    """Per cell: seeds, final epoch, ρ̄ per layer (mean ± std over seeds), layer-1 mean
    recovery rate after ~5 epochs and at the end, median final eval loss, diverged seeds.
    Values are raw numbers; :func:`format_headline` makes text."""
    own = view is None
    view = view or SweepView(root)
    try:
        con = view.con
        out: dict[str, dict[str, Any]] = {c: {"cell": c, "rho": {}} for c in view.cells}
        for cell, layer, mean, std, seeds, epoch in con.execute(
                "SELECT cell, layer, avg(rho_greedy) FILTER (WHERE NOT isnan(rho_greedy)), "
                "stddev_samp(rho_greedy) FILTER (WHERE NOT isnan(rho_greedy)), "
                "count(DISTINCT seed), max(epoch) FROM results WHERE final "
                "GROUP BY cell, layer").fetchall():
            out[cell]["rho"][layer] = (mean, std)
            out[cell]["seeds"] = seeds
            out[cell]["epochs"] = epoch
        for cell, loss, diverged in con.execute(
                "SELECT cell, median(eval_loss) FILTER (WHERE NOT isnan(eval_loss)), "
                "count(DISTINCT seed) FILTER (WHERE diverged) FROM results "
                "WHERE final AND layer = 1 GROUP BY cell").fetchall():
            out[cell]["eval_loss"] = loss
            out[cell]["diverged"] = diverged
        rates: dict[str, dict[int, float]] = {}
        for cell, epoch, rate in con.execute(
                "SELECT cell, epoch, avg(rate) FROM recovery WHERE layer = 1 "
                "GROUP BY cell, epoch").fetchall():
            rates.setdefault(cell, {})[epoch] = rate
        for cell, by_epoch in rates.items():
            final = out[cell].get("epochs", max(by_epoch))
            early = early_epoch(list(by_epoch), final)
            out[cell]["recovery_final"] = by_epoch.get(final)
            out[cell]["recovery_early"] = by_epoch.get(early) if early is not None else None
            out[cell]["early_epoch"] = early
        return [out[c] for c in view.cells]
    finally:
        if own:
            view.close()


def format_headline(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Column names and text rows of the headline table."""
    layers = sorted({layer for r in rows for layer in r["rho"]})
    early = sorted({r.get("early_epoch") for r in rows if r.get("early_epoch") is not None})
    early_name = f"rec@{early[0]}" if len(early) == 1 else "rec early"
    cols = ["cell", "seeds", "epochs", *[f"ρ̄ L{lay}" for lay in layers],
            early_name, "rec end", "eval loss", "div"]
    text = []
    for r in rows:
        rho = [f"{_num(r['rho'][lay][0])}±{_num(r['rho'][lay][1])}" if lay in r["rho"]
               else "–" for lay in layers]
        text.append([r["cell"], str(r.get("seeds", "–")), str(r.get("epochs", "–")), *rho,
                     _num(r.get("recovery_early")), _num(r.get("recovery_final")),
                     _num(r.get("eval_loss"), 4), str(r.get("diverged", 0))])
    return cols, text


def _table(cols: Sequence[str] | None, rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = ("<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
            + "</tr></thead>") if cols else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f'<table class="{cls}">{head}<tbody>{body}</tbody></table>'


def _caption(path: Path) -> str:
    for prefix, text in CAPTIONS.items():
        if path.stem.startswith(prefix):
            layer = path.stem.rsplit("layer", 1)[-1] if "layer" in path.stem else ""
            return f"{text}{f' Layer {layer}.' if layer.isdigit() else ''}"
    return path.stem.replace("_", " ")


def _config_rows(cells: dict[str, dict]) -> tuple[list[list[str]], list[str]]:
    """(key, value) rows of config columns equal in every cell, and the keys that vary."""
    flat = []
    for cell in cells.values():
        try:
            flat.append(config_columns(cell["config"]))
        except (KeyError, TypeError):  # not a full config (hand-made or older folder)
            continue
    if not flat:
        return [], []
    same, varying = [], []
    for key in flat[0]:
        values = {repr(f.get(key)) for f in flat}
        if len(values) == 1:
            same.append([key, str(flat[0][key])])
        else:
            varying.append(key)
    return same, varying


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1180px;color:#1b1b1b;background:#fff;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #3b528b;padding-bottom:3px;
margin-top:1.6em;color:#3b528b}table{border-collapse:collapse;font-size:.86em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eef1f8}
td:first-child,th:first-child{text-align:left}tbody tr:nth-child(even){background:#f7f7f7}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444}.meta td{text-align:left}.note{color:#555;font-size:.9em}
"""


def has_sweep_results(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds finished sweep batches (what the headline and figures need)."""
    return Path(root).is_dir() and bool(SweepStore(root).batch_files())


def _query_sweep(root: Path) -> tuple[list[dict[str, Any]], int, list[str], list[str]]:
    """Headline rows, finished (cell, seed) members, devices and grid keys of the sweep."""
    view = SweepView(root)
    try:
        rows = headline(root, view)
        n_members = view.con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT cell, seed FROM results)").fetchone()[0]
        devices = [r[0] for r in view.con.execute(
            "SELECT DISTINCT device FROM results ORDER BY 1").fetchall()]
        return rows, n_members, devices, view.keys
    finally:
        view.close()


def _sweep_meta(manifest: dict[str, Any], n_cells: int, n_members: int,
                devices: Sequence[str]) -> list[list[str]]:
    runs = manifest.get("runs", [])
    spec = (runs[-1] if runs else {}).get("spec", {})
    grid = manifest.get("grid", {})
    return [
        ["preset", str(manifest.get("preset", "–"))],
        ["grid", "; ".join(f"{k} = {', '.join(format_point_value(x) for x in v)}"
                           for k, v in grid.items()) or "–"],
        ["cells with results", str(n_cells)],
        ["(cell, seed) members finished", str(n_members)],
        ["seeds requested", str(len(spec.get("seeds", [])) or "–")],
        ["--set", ", ".join(f"{k}={v}" for k, v in spec.get("set", {}).items()) or "–"],
        ["device", ", ".join(devices) or "–"],
        ["sweep config hash", str(manifest.get("config_hash", "–"))],
        [f"invocations ({len(runs)}, last 3)",
         "; ".join(f"{r.get('started_at')} → {r.get('ended_at') or '…'} ({r.get('status')})"
                   for r in runs[-3:]) or "–"],
    ]


def _figures_html(figures: Sequence[Path]) -> list[str]:
    parts = ["<h2>Figures</h2>"]
    for path in figures:
        if path.suffix != ".png":
            continue
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<figure><img alt='{html.escape(path.stem)}' "
                     f"src='data:image/png;base64,{data}'>"
                     f"<figcaption><b>{html.escape(path.stem)}</b>: "
                     f"{html.escape(_caption(path))}</figcaption></figure>")
    return parts


HEADLINE_NOTE = (
    "<p class='note'>At the end of training unless stated. ρ̄ L<i>l</i>: layer <i>l</i>'s "
    "ρ̄, mean ± std over seeds; rec@<i>e</i> / rec end: mean over teacher nodes of the "
    f"layer-1 success rate (eval correlation &gt; {RECOVERY_THRESHOLD}) after <i>e</i> epochs "
    "/ at the end; eval loss: median over seeds; div: diverged seeds (left out of means).</p>")


def _sweep_sections(root: Path, figures_dir: str | os.PathLike | None
                    ) -> tuple[list[list[str]], list[str], list[str], dict[str, str]]:
    """Meta rows, headline section, figures + configuration sections and versions."""
    figures = plot_all(root, figures_dir)
    store = SweepStore(root)
    manifest = store.read_manifest()
    cells = store.load_cells()
    rows, n_members, devices, grid_keys = _query_sweep(root)
    runs = manifest.get("runs", [])
    versions = (runs[-1] if runs else {}).get("versions", {})
    same, varying = _config_rows({k: v for k, v in cells.items()
                                  if k in {r["cell"] for r in rows}})
    cols, text = format_headline(rows)
    top = ["<h2>Headline numbers</h2>", HEADLINE_NOTE, _table(cols, text)]
    rest = [
        *_figures_html(figures),
        "<h2>Configuration</h2>",
        f"<p class='note'>Grid keys: {html.escape(', '.join(grid_keys) or 'none')}; config "
        f"fields that differ between cells: {html.escape(', '.join(varying) or 'none')}. "
        "Fields shared by every cell:</p>",
        _table(["field", "value"], same, "meta"),
    ]
    return _sweep_meta(manifest, len(rows), n_members, devices), top, rest, versions


def build_report(root: str | os.PathLike, out: str | os.PathLike | None = None,
                 figures_dir: str | os.PathLike | None = None) -> Path:
    """Draw the figures and write ``root/report.html`` (or ``out``); returns its path.

    A ``validate.json`` in ``root`` adds the "Fidelity" section; a folder with only that (no
    sweep results) gets a report of it alone. StoreError when there is neither."""
    root = Path(root)
    target = Path(out) if out is not None else root / "report.html"
    validate = read_validate(root) if root.is_dir() else None
    if validate is None or has_sweep_results(root):
        results_dir(root)  # StoreError when there are no sweep results
        meta, top, rest, versions = _sweep_sections(root, figures_dir)
        title = f"relulab sweep report: {root.name}"
    else:
        meta, top, rest, versions = [], [], [], validate[0].get("versions") or {}
        title = f"relulab fidelity report: {root.name}"
    if validate is not None:
        meta.append(["validate run", run_line(validate[0]) or "–"])
    meta = [["results folder", str(root.resolve())], *meta,
            ["report written", iso_time()]]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}{FIDELITY_STYLE if validate is not None else ''}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _table(None, meta, "meta"),
        *top,
        *([fidelity_section(*validate)] if validate is not None else []),
        *rest,
        "<h2>Versions</h2>",
        _table(["package", "version"], [[k, v] for k, v in sorted(versions.items())], "meta"),
        "</body></html>",
    ]
    write_text(target, "\n".join(parts))
    return target
