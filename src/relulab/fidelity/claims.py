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
FISHER_ALPHA = 0.01  # per-node success counts: two-sided Fisher p below this differs
WELCH_ALPHA = 0.01  # per-seed values (ρ̄, log10 loss): Welch p below this differs

# Equivalence margins: a comparison agrees when the whole 95 % interval of the difference lies
# inside ±margin. Rates: ±0.25. A 32-seed reference alone spans ±0.17 (Wilson) at a rate of 0.5,
# so no margin under ~0.2 can ever be met there; 0.25 is still a quarter of the range, and far
# below the shifts of a wrong convention (the mean-over-outputs loss: 1 → 0.06 after 5 epochs).
RATE_MARGIN = 0.25
# ρ̄ per layer: ±0.075. The original measures ρ̄ on 192 samples (±0.01–0.03 sampling noise), and
# its 10 seeds spread up to sd 0.08 (layer 4 after training): the reference alone spans ±0.057,
# so ±0.05 cannot be met with any number of relulab seeds. 0.075 is under half the gap between
# layers 1 and 2 after training (0.17) and under a fifth of the init → trained change (0.4).
RHO_MARGIN = 0.075
# log10 of the final eval loss: ±0.5 decade. Seeds spread by 0.2–0.55 decade (sd); a wrong
# loss convention moves it by ~3 decades.
LOG_LOSS_MARGIN = 0.5

AGREES, DIFFERS, INCONCLUSIVE = "agrees", "differs", "inconclusive"
_FLOATS = ("value", "difference", "ci_low", "ci_high", "margin", "detectable")


@dataclass(frozen=True)
class Claim:
    """One row of the fidelity table. Statistical rows also carry the difference relulab −
    reference with its 95 % interval, the equivalence margin, the smallest difference the test
    detects with 80 % power and the seeds that would make an inconclusive row conclusive; exact
    rows (theory, fixed thresholds) leave those NaN and agree exactly when they pass."""

    group: str  # e.g. "two-layer p=2, after 5 epochs" or "theory"
    name: str  # e.g. "node 3 successes" or "Theorem 1 vs autograd"
    relulab: str  # relulab's value, as text (e.g. "30/32", "0.947 ± 0.004")
    reference: str  # the reference value, as text (e.g. "6/8", "0.534155")
    source: str  # where the reference comes from (file in reference/, paper + section)
    statistic: str  # the test, e.g. "Fisher p", "Welch p", "|diff|"
    value: float  # the statistic's value
    criterion: str  # the rule of "differs" / pass, e.g. "p ≥ 0.01"
    passed: bool  # not "differs"
    difference: float = math.nan  # relulab − reference (rate, mean)
    ci_low: float = math.nan  # 95 % interval of the difference
    ci_high: float = math.nan
    margin: float = math.nan  # equivalence margin (±)
    detectable: float = math.nan  # smallest |difference| detected with 80 % power
    verdict: str = ""  # agrees | differs | inconclusive ("" → from passed)
    seeds_needed: int | None = None  # relulab seeds for a conclusive row (if inconclusive)
    note: str = ""  # why a row is inconclusive, what would settle it

    def __post_init__(self) -> None:
        if not self.verdict:
            object.__setattr__(self, "verdict", AGREES if self.passed else DIFFERS)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in _FLOATS:
            d[key] = None if not math.isfinite(d[key]) else d[key]
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Claim:
        floats = {k: math.nan if d.get(k) is None else float(d[k]) for k in _FLOATS if k in d}
        return Claim(**{**d, **floats})


def decide(lo: float, hi: float, margin: float, rejected: bool) -> str:
    """The three-way verdict: agrees when the interval ``[lo, hi]`` lies inside ``±margin``;
    otherwise differs when the test rejects; otherwise inconclusive."""
    if math.isfinite(lo) and math.isfinite(hi) and -margin < lo and hi < margin:
        return AGREES
    return DIFFERS if rejected else INCONCLUSIVE


def _seeds_note(verdict: str, needed: int | None, n1: int, n2: int) -> str:
    if verdict != INCONCLUSIVE:
        return ""
    if needed is None:
        return (f"no number of relulab seeds makes it conclusive against {n2} reference "
                "seeds (the reference's own interval, or the difference, is too wide)")
    return f"conclusive with ≥ {needed} relulab seeds (now {n1}) if the estimate holds"


def fisher_claim(group: str, name: str, ours: tuple[int, int], theirs: tuple[int, int],
                 source: str, alpha: float = FISHER_ALPHA, margin: float = RATE_MARGIN
                 ) -> Claim:
    """Success counts ``(successes, trials)`` on both sides: two-sided Fisher exact test, the
    difference of rates with Newcombe's interval, the Fisher test's 80 % detectable difference
    at the reference's rate, and the three-way verdict."""
    from scipy import stats

    from relulab.fidelity import intervals as iv

    (a, n), (b, m) = ours, theirs
    p = float(stats.fisher_exact([[a, n - a], [b, m - b]]).pvalue)
    d, lo, hi = iv.newcombe(a, n, b, m)
    verdict = decide(lo, hi, margin, p < alpha)
    needed = (iv.seeds_for_rates(a / n, n, b, m, margin) if verdict == INCONCLUSIVE
              else None)
    return Claim(group, name, f"{a}/{n}", f"{b}/{m}", source, "Fisher p", p,
                 f"p ≥ {alpha}", verdict != DIFFERS, d, lo, hi, margin,
                 iv.fisher_detectable(b / m, n, m, alpha), verdict, needed,
                 _seeds_note(verdict, needed, n, m))


def welch_claim(group: str, name: str, ours: list[float], theirs: list[float], source: str,
                margin: float, alpha: float = WELCH_ALPHA) -> Claim:
    """Per-seed values on both sides: Welch's t test, the difference of means with Welch's
    interval, the test's 80 % detectable difference and the three-way verdict."""
    import numpy as np

    from relulab.fidelity import intervals as iv

    x, y = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    p = math.nan
    if len(x) > 1:
        from scipy import stats

        p = float(stats.ttest_ind(x, y, equal_var=False).pvalue)
    d, lo, hi = iv.welch_interval(x, y)
    verdict = decide(lo, hi, margin, math.isfinite(p) and p < alpha)
    sd1 = float(x.std(ddof=1)) if len(x) > 1 else math.nan
    sd2 = float(y.std(ddof=1))
    detect, needed = math.nan, None
    if len(x) > 1:
        detect = iv.welch_detectable(sd1, len(x), sd2, len(y), alpha)
        if verdict == INCONCLUSIVE:
            needed = iv.seeds_for_means(d, sd1, len(x), sd2, len(y), margin)
    return Claim(group, name, _mean_sd(x), _mean_sd(y), source, "Welch p", p,
                 f"p ≥ {alpha}", verdict != DIFFERS, d, lo, hi, margin, detect, verdict,
                 needed, _seeds_note(verdict, needed, len(x), len(y)))


def interval_text(c: Claim) -> str:
    """``"+0.031 [−0.12, +0.19]"``; "–" for exact rows."""
    if not math.isfinite(c.difference):
        return "–"
    if not (math.isfinite(c.ci_low) and math.isfinite(c.ci_high)):
        return f"{c.difference:+.3g} [–]"
    return f"{c.difference:+.3g} [{c.ci_low:+.3g}, {c.ci_high:+.3g}]"


def margin_text(c: Claim) -> str:
    """``"±0.25"``; for exact rows the pass rule itself."""
    return f"±{c.margin:g}" if math.isfinite(c.margin) else c.criterion


def verdict_text(c: Claim) -> str:
    """``"agrees"``, ``"differs"``, ``"inconclusive (≥ 96 seeds)"`` or ``"inconclusive
    (reference-limited)"``."""
    if c.verdict != INCONCLUSIVE:
        return c.verdict
    return f"{c.verdict} ({f'≥ {c.seeds_needed} seeds' if c.seeds_needed else 'reference-limited'})"


def detectable_text(c: Claim) -> str:
    """The 80 %-power detectable difference, "–" where there is none."""
    return f"{c.detectable:.3g}" if math.isfinite(c.detectable) else "–"


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
