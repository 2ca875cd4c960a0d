"""The report's "Fidelity" section: the claims of a ``relulab validate`` result
(``validate.json``, see :mod:`relulab.fidelity.claims`) as one table with a verdict per row.

``relulab.fidelity.claims`` (and with it scipy) is imported only when a report is built."""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relulab.results.store import StoreError

FIDELITY_STYLE = """
.fidelity td{text-align:left}.fidelity td.num{text-align:right}
.fidelity tr.fail td{color:#b00020;font-weight:600}.fidelity td.verdict{font-weight:600}
.fidelity tr.pass td.verdict{color:#1b7a2e}.summary{font-weight:600}.summary.fail{color:#b00020}
"""

COLUMNS = ["group", "claim", "relulab", "reference", "statistic", "criterion", "verdict",
           "source"]


def validate_path(root: str | os.PathLike) -> Path:
    """Where ``relulab validate --out root`` writes its result."""
    from relulab.fidelity.claims import VALIDATE_FILE

    return Path(root) / VALIDATE_FILE


def read_validate(root: str | os.PathLike) -> tuple[dict[str, Any], list[Any]] | None:
    """``(meta, claims)`` of ``root``'s validate result, None when there is none; StoreError
    when the file cannot be read as one."""
    from relulab.fidelity.claims import read_claims

    path = validate_path(root)
    if not path.is_file():
        return None
    try:
        return read_claims(path)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreError(f"'{path}' is not a readable validate result: {exc}") from None


def format_statistic(name: str, value: float) -> str:
    """``"Fisher p = 0.0123"``: 3 significant digits, "–" for a missing (NaN) value."""
    text = "–" if value is None or not math.isfinite(value) else f"{value:.3g}"
    return f"{name} = {text}"


def run_line(meta: dict[str, Any]) -> str:
    """Mode, start and duration of the validate run, as far as ``meta`` has them."""
    parts = []
    if meta.get("mode") is not None:
        parts.append(f"mode {meta['mode']}")
    if meta.get("started_at") is not None:
        parts.append(str(meta["started_at"]))
    seconds = meta.get("seconds")
    if isinstance(seconds, (int, float)) and math.isfinite(seconds):
        parts.append(f"{seconds:.0f} s")
    return ", ".join(parts)


def summary(meta: dict[str, Any], claims: Sequence[Any]) -> str:
    """``"3 of 4 claims pass (mode quick, 2024-05-01T10:00:00, 12 s)"``."""
    passed = sum(1 for c in claims if c.passed)
    run = run_line(meta)
    return f"{passed} of {len(claims)} claims pass" + (f" ({run})" if run else "")


def claim_cells(claim: Any) -> list[str]:
    """The text of one table row, in :data:`COLUMNS` order."""
    return [claim.group, claim.name, claim.relulab, claim.reference,
            format_statistic(claim.statistic, claim.value), claim.criterion,
            "PASS" if claim.passed else "FAIL", claim.source]


def fidelity_section(meta: dict[str, Any], claims: Sequence[Any]) -> str:
    """The "Fidelity" section: a one-line summary and the claims table, FAIL rows marked with
    class ``fail`` (red)."""
    ok = all(c.passed for c in claims)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    rows = []
    for claim in claims:
        cells = []
        for col, text in zip(COLUMNS, claim_cells(claim), strict=True):
            cls = {"statistic": " class='num'", "verdict": " class='verdict'"}.get(col, "")
            cells.append(f"<td{cls}>{html.escape(str(text))}</td>")
        rows.append(f"<tr class='{'pass' if claim.passed else 'fail'}'>{''.join(cells)}</tr>")
    return "\n".join([
        "<h2>Fidelity</h2>",
        f"<p class='summary{'' if ok else ' fail'}'>{html.escape(summary(meta, claims))}</p>",
        "<p class='note'>relulab's values next to reference values (the original code's runs, "
        "the paper); statistic: the test and its value; verdict: whether the criterion holds."
        "</p>",
        f"<table class='fidelity'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>",
    ])
