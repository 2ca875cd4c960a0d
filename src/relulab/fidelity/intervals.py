"""How sure a fidelity comparison is: differences with 95 % intervals, the smallest difference a
test detects with 80 % power, and how many seeds would make a comparison conclusive.

Two kinds of comparison, relulab (side 1) against a reference (side 2):

- success counts ``k`` of ``n`` seeds: the difference of the two rates with Newcombe's hybrid
  score interval (his method 10: two Wilson intervals combined); the test is the two-sided Fisher
  exact test, and its power is computed exactly (every table enumerated);
- per-seed values: the difference of the means with Welch's interval; the test is Welch's t, its
  power from the noncentral t distribution.

All functions are pure (numpy/scipy in, floats out); Fisher p-value tables are cached per
``(n1, n2)``.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import optimize, special, stats

CONFIDENCE = 0.95
POWER = 0.8
MAX_SEEDS = 1 << 20  # search limit of :func:`seeds_for_rates` / :func:`seeds_for_means`


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson(k: float, n: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` of a rate ``k / n`` (``k`` may be fractional)."""
    z = _z(confidence)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: float, n1: float, k2: float, n2: float,
             confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(d, low, high)``: the difference of rates ``d = k1/n1 − k2/n2`` and Newcombe's hybrid
    score interval (Newcombe 1998, method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    d = p1 - p2
    return (d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def welch_interval(x: np.ndarray, y: np.ndarray, confidence: float = CONFIDENCE
                   ) -> tuple[float, float, float]:
    """``(d, low, high)``: ``mean(x) − mean(y)`` of per-seed values ``x (n1,)``, ``y (n2,)``
    and Welch's interval (NaN bounds when a side has fewer than 2 values)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    d = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return d, math.nan, math.nan
    half = _welch_half_width(float(x.std(ddof=1)), len(x), float(y.std(ddof=1)), len(y),
                             confidence)
    return d, d - half, d + half


def _welch_se_df(sd1: float, n1: float, sd2: float, n2: float) -> tuple[float, float]:
    """Standard error of the difference of means and the Welch–Satterthwaite degrees of
    freedom."""
    v1, v2 = sd1 * sd1 / n1, sd2 * sd2 / n2
    se = math.sqrt(v1 + v2)
    if se == 0:
        return 0.0, n1 + n2 - 2
    return se, (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))


def _welch_half_width(sd1: float, n1: float, sd2: float, n2: float,
                      confidence: float = CONFIDENCE) -> float:
    se, df = _welch_se_df(sd1, n1, sd2, n2)
    return float(stats.t.ppf(0.5 + confidence / 2, df)) * se


@cache
def fisher_pvalues(n1: int, n2: int) -> np.ndarray:
    """Two-sided Fisher exact p-values ``(n1 + 1, n2 + 1)`` of every table ``[[a, n1 − a],
    [b, n2 − b]]`` (entry ``[a, b]``): conditional on ``a + b``, the sum of the hypergeometric
    probabilities not above that of the table (relative tolerance 1e-7, as scipy)."""
    out = np.ones((n1 + 1, n2 + 1))
    for k in range(n1 + n2 + 1):
        a = np.arange(max(0, k - n2), min(k, n1) + 1)
        pmf = stats.hypergeom.pmf(a, n1 + n2, n1, k)
        order = np.sort(pmf)
        cum = np.cumsum(order)
        idx = np.searchsorted(order, pmf * (1 + 1e-7), side="right") - 1
        out[a, k - a] = np.minimum(1.0, cum[idx])
    return out


def fisher_power(pi1: float | np.ndarray, pi2: float, n1: int, n2: int,
                 alpha: float) -> np.ndarray:
    """Exact power of the two-sided Fisher test at ``alpha`` for true rates ``pi1`` (any shape)
    and ``pi2``, with ``n1`` and ``n2`` seeds: P(p < alpha), summed over every table."""
    reject = (fisher_pvalues(n1, n2) < alpha).astype(float)  # (n1+1, n2+1)
    pmf1 = _binom_pmf(n1, np.asarray(pi1, dtype=float)[..., None])  # (..., n1+1)
    return pmf1 @ (reject @ _binom_pmf(n2, np.asarray(pi2, dtype=float)))


def _binom_pmf(n: int, p: np.ndarray) -> np.ndarray:
    """Binomial probabilities of 0..n successes ``(..., n+1)`` for rates ``p (..., 1)`` (or a
    scalar): scipy.stats.binom.pmf, computed in log space without its per-call overhead."""
    k = np.arange(n + 1)
    log_choose = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    return np.exp(log_choose + special.xlogy(k, p) + special.xlog1py(n - k, -p))


def fisher_detectable(pi2: float, n1: int, n2: int, alpha: float, power: float = POWER,
                      step: float = 0.001) -> float:
    """Smallest ``|δ|`` (on a grid of ``step``) such that the Fisher test at ``alpha`` detects
    a relulab rate ``pi2 ± δ`` against a reference rate ``pi2`` with at least ``power``; NaN
    when no rate in [0, 1] is detected that often."""
    deltas = np.arange(step, 1 + step / 2, step)
    best = math.nan
    for sign in (1.0, -1.0):
        pi1 = pi2 + sign * deltas
        ok = (pi1 >= 0) & (pi1 <= 1)
        if not ok.any():
            continue
        hit = np.nonzero(fisher_power(pi1[ok], pi2, n1, n2, alpha) >= power)[0]
        if len(hit) and not float(deltas[ok][hit[0]]) >= best:
            best = float(deltas[ok][hit[0]])
    return best


def welch_power(delta: float, sd1: float, n1: int, sd2: float, n2: int, alpha: float) -> float:
    """Power of the two-sided Welch t test at ``alpha`` for a true difference of means
    ``delta`` (noncentral t with the Welch–Satterthwaite degrees of freedom)."""
    se, df = _welch_se_df(sd1, n1, sd2, n2)
    if se == 0:
        return 1.0 if delta != 0 else 0.0
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    nc = delta / se
    upper, lower = float(stats.nct.sf(crit, df, nc)), float(stats.nct.cdf(-crit, df, nc))
    return min(1.0, (1.0 if math.isnan(upper) else upper) + (0.0 if math.isnan(lower) else lower))


def welch_detectable(sd1: float, n1: int, sd2: float, n2: int, alpha: float,
                     power: float = POWER) -> float:
    """Smallest difference of means that Welch's test at ``alpha`` detects with ``power``."""
    se, df = _welch_se_df(sd1, n1, sd2, n2)
    if se == 0:
        return 0.0
    top = (float(stats.t.ppf(1 - alpha / 2, df)) + 6) * se  # power ≈ 1 there
    return float(optimize.brentq(
        lambda d: welch_power(d, sd1, n1, sd2, n2, alpha) - power, 0.0, top, xtol=1e-9))


def _smallest_n(inside, n_from: int) -> int | None:
    """Smallest ``n ≥ n_from`` with ``inside(n)`` (assumed monotone), None beyond
    :data:`MAX_SEEDS`."""
    hi = max(2, n_from)
    while not inside(hi):
        if hi >= MAX_SEEDS:
            return None
        hi *= 2
    lo = max(1, hi // 2)
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if inside(mid) else (mid, hi)
    return max(hi, n_from)


def seeds_for_rates(rate1: float, n1: int, k2: int, n2: int, margin: float) -> int | None:
    """Relulab seeds that would put the Newcombe interval inside ``±margin`` if relulab's rate
    stayed ``rate1`` (the reference fixed at ``k2 / n2``); None when no number of seeds does."""
    def inside(n: int) -> bool:
        _, lo, hi = newcombe(rate1 * n, n, k2, n2)
        return -margin < lo and hi < margin
    return _smallest_n(inside, n1)


def seeds_for_means(diff: float, sd1: float, n1: int, sd2: float, n2: int,
                    margin: float) -> int | None:
    """Relulab seeds that would put Welch's interval inside ``±margin`` if relulab's mean and
    standard deviation stayed as measured; None when no number of seeds does."""
    return _smallest_n(lambda n: abs(diff) + _welch_half_width(sd1, n, sd2, n2) < margin,
                       n1)
