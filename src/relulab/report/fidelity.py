"""The report's "Fidelity" section: the claims of a ``relulab validate`` result
(``validate.json``, see :mod:`relulab.fidelity.claims`) as one table: per row the test, the
difference with its 95 % interval, the equivalence margin, the 80 %-power detectable difference
and the verdict (agrees / differs / inconclusive).

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
.fidelity tr.differs td{color:#b00020;font-weight:600}.fidelity td.verdict{font-weight:600}
.fidelity tr.agrees td.verdict{color:#1b7a2e}.fidelity tr.inconclusive td.verdict{color:#9a6700}
.summary{font-weight:600}.summary.fail{color:#b00020}
"""

COLUMNS = ["group", "claim", "relulab", "reference", "statistic", "difference [95 % CI]",
           "margin", "detectable (80 % power)", "verdict", "source"]
VERDICTS = ("agrees", "differs", "inconclusive")


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
    """``"4 claims: 2 agree, 1 differ, 1 inconclusive (mode quick, 2024-05-01T10:00:00,
    12 s)"``."""
    n = {v: sum(1 for c in claims if c.verdict == v) for v in VERDICTS}
    run = run_line(meta)
    return (f"{len(claims)} claims: {n['agrees']} agree, {n['differs']} differ, "
            f"{n['inconclusive']} inconclusive" + (f" ({run})" if run else ""))


def claim_cells(claim: Any) -> list[str]:
    """The text of one table row, in :data:`COLUMNS` order."""
    from relulab.fidelity.claims import (
        detectable_text,
        interval_text,
        margin_text,
        verdict_text,
    )

    verdict = verdict_text(claim) + (f": {claim.note}" if claim.note else "")
    return [claim.group, claim.name, claim.relulab, claim.reference,
            format_statistic(claim.statistic, claim.value), interval_text(claim),
            margin_text(claim), detectable_text(claim), verdict, claim.source]


def fidelity_section(meta: dict[str, Any], claims: Sequence[Any]) -> str:
    """The "Fidelity" section: a one-line summary and the claims table, each row's class its
    verdict (``differs`` rows red)."""
    ok = not any(c.verdict == "differs" for c in claims)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    rows = []
    for claim in claims:
        cells = []
        for col, text in zip(COLUMNS, claim_cells(claim), strict=True):
            cls = {"statistic": " class='num'", "verdict": " class='verdict'"}.get(col, "")
            cells.append(f"<td{cls}>{html.escape(str(text))}</td>")
        rows.append(f"<tr class='{claim.verdict}'>{''.join(cells)}</tr>")
    return "\n".join([
        "<h2>Fidelity</h2>",
        f"<p class='summary{'' if ok else ' fail'}'>{html.escape(summary(meta, claims))}</p>",
        "<p class='note'>relulab's values next to reference values (the original code's runs, "
        "the paper); statistic: the test and its value; difference: relulab − reference with "
        "its 95 % interval (Newcombe for rates, Welch for means); margin: the equivalence "
        "margin (exact rows: the pass rule); detectable: the smallest difference the test "
        "finds with 80 % power at α = 0.01; verdict: agrees (interval inside the margin), "
        "differs (the test rejects), inconclusive (neither: too few seeds).</p>",
        f"<table class='fidelity'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>",
    ])
