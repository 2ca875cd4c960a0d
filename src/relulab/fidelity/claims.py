"""A fidelity claim: relulab's value next to a reference value, a statistic and a verdict.

Every check of ``relulab validate`` produces :class:`Claim` rows; the suite's result is
written as JSON (``validate.json``: ``{"mode", "started_at", "seconds", "versions",
"claims": [Claim.to_dict(), ...]}``) and read back by the report's "Fidelity" section.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VALIDATE_FILE = "validate.json"
FISHER_ALPHA = 0.01  # per-node success counts: flag two-sided Fisher p below this
WELCH_ALPHA = 0.01  # rho-bar per layer: flag Welch p below this (and outside mean ± 3 SE)


@dataclass(frozen=True)
class Claim:
    """One row of the fidelity table."""

    group: str  # e.g. "two-layer p=2, after 5 epochs" or "theory"
    name: str  # e.g. "node 3 successes" or "Theorem 1 vs autograd"
    relulab: str  # relulab's value, as text (e.g. "30/32", "0.947 ± 0.004")
    reference: str  # the reference value, as text (e.g. "6/8", "0.534155")
    source: str  # where the reference comes from (file in reference/, paper + section)
    statistic: str  # the test, e.g. "Fisher p", "Welch p", "|diff|"
    value: float  # the statistic's value
    criterion: str  # the pass rule, e.g. "p ≥ 0.01"
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["value"] = None if not math.isfinite(self.value) else self.value
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Claim:
        value = d.get("value")
        return Claim(**{**d, "value": math.nan if value is None else float(value)})


def fisher_claim(group: str, name: str, ours: tuple[int, int], theirs: tuple[int, int],
                 source: str, alpha: float = FISHER_ALPHA) -> Claim:
    """Success counts ``(successes, trials)`` on both sides: two-sided Fisher exact test."""
    from scipy import stats

    (a, n), (b, m) = ours, theirs
    p = float(stats.fisher_exact([[a, n - a], [b, m - b]]).pvalue)
    return Claim(group, name, f"{a}/{n}", f"{b}/{m}", source, "Fisher p", p,
                 f"p ≥ {alpha}", p >= alpha)


def welch_claim(group: str, name: str, ours: list[float], theirs: list[float], source: str,
                alpha: float = WELCH_ALPHA) -> Claim:
    """Per-seed values on both sides: Welch's t test; also passes when relulab's mean lies
    within the reference mean ± 3 standard errors (the reference often has very few seeds)."""
    import numpy as np
    from scipy import stats

    x, y = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    p = float(stats.ttest_ind(x, y, equal_var=False).pvalue) if len(x) > 1 else math.nan
    se = float(y.std(ddof=1) / math.sqrt(len(y))) if len(y) > 1 else math.nan
    within = abs(float(x.mean()) - float(y.mean())) <= 3 * se
    ok = (math.isfinite(p) and p >= alpha) or within
    return Claim(group, name, _mean_sd(x), _mean_sd(y), source, "Welch p", p,
                 f"p ≥ {alpha} or |Δmean| ≤ 3 SE", ok)


def _mean_sd(x: Any) -> str:
    """``mean ± sd (n=...)`` of per-seed values (no sd for a single value)."""
    sd = f" ± {x.std(ddof=1):.4f}" if len(x) > 1 else ""
    return f"{x.mean():.4f}{sd} (n={len(x)})"


def write_claims(path: str | Path, claims: list[Claim], **meta: Any) -> Path:
    """Write ``validate.json`` atomically (temp file + rename)."""
    from relulab.results.store import write_text

    path = Path(path)
    write_text(path, json.dumps({**meta, "claims": [c.to_dict() for c in claims]}, indent=1))
    return path


def read_claims(path: str | Path) -> tuple[dict[str, Any], list[Claim]]:
    """Metadata and claims of a ``validate.json``."""
    data = json.loads(Path(path).read_text())
    claims = [Claim.from_dict(c) for c in data.pop("claims", [])]
    return data, claims
