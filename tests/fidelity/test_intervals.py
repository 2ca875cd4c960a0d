"""Intervals, power and verdicts of the fidelity comparisons, against published values, scipy and
Monte Carlo simulations."""

import math

import numpy as np
import pytest
from scipy import stats

from relulab.fidelity import intervals as iv
from relulab.fidelity.claims import (
    AGREES,
    DIFFERS,
    INCONCLUSIVE,
    RATE_MARGIN,
    RHO_MARGIN,
    Claim,
    decide,
    fisher_claim,
    welch_claim,
)


def test_newcombe_interval_matches_his_worked_examples():
    """Newcombe (1998), Stat. Med. 17:873, Table II, method 10 (hybrid score)."""
    for (k1, n1, k2, n2), (lo, hi) in (((56, 70, 48, 80), (0.0524, 0.3339)),
                                       ((9, 10, 3, 10), (0.1705, 0.8090))):
        d, low, high = iv.newcombe(k1, n1, k2, n2)
        assert d == pytest.approx(k1 / n1 - k2 / n2)
        assert low == pytest.approx(lo, abs=6e-5) and high == pytest.approx(hi, abs=6e-5)


def test_wilson_interval_by_hand():
    """8/10: centre (0.8 + 1.96²/20) / (1 + 1.96²/10), half-width as the Wilson formula."""
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    assert iv.wilson(8, 10) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert iv.wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_welch_interval_is_scipys():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.9, 0.05, 12), rng.normal(0.85, 0.08, 7)
    d, lo, hi = iv.welch_interval(x, y)
    ci = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert d == pytest.approx(x.mean() - y.mean())


def test_fisher_pvalue_table_is_scipys():
    table = iv.fisher_pvalues(40, 12)
    rng = np.random.default_rng(2)
    for a, b in zip(rng.integers(0, 41, 200), rng.integers(0, 13, 200), strict=True):
        want = stats.fisher_exact([[a, 40 - a], [b, 12 - b]]).pvalue
        assert table[a, b] == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_fisher_power_matches_a_simulation():
    """Exact power (every table enumerated) vs 4000 simulated Fisher tests: within 4 SE."""
    n1, n2, pi1, pi2, alpha = 24, 16, 0.8, 0.3, 0.01
    exact = float(iv.fisher_power(pi1, pi2, n1, n2, alpha))
    rng = np.random.default_rng(3)
    sims = 4000
    hits = 0
    for a, b in zip(rng.binomial(n1, pi1, sims), rng.binomial(n2, pi2, sims), strict=True):
        hits += stats.fisher_exact([[a, n1 - a], [b, n2 - b]]).pvalue < alpha
    se = math.sqrt(exact * (1 - exact) / sims)
    assert 0.3 < exact < 0.95 and abs(hits / sims - exact) < 4 * se


def test_fisher_detectable_difference_has_80_percent_power():
    n1, n2, pi2, alpha = 64, 32, 0.375, 0.01
    delta = iv.fisher_detectable(pi2, n1, n2, alpha)
    assert 0.2 < delta < 0.6
    best = max(float(iv.fisher_power(pi2 + s * delta, pi2, n1, n2, alpha)) for s in (1, -1)
               if 0 <= pi2 + s * delta <= 1)
    below = max(float(iv.fisher_power(pi2 + s * (delta - 0.01), pi2, n1, n2, alpha))
                for s in (1, -1) if 0 <= pi2 + s * (delta - 0.01) <= 1)
    assert best >= 0.8 > below


def test_welch_detectable_difference_matches_a_simulation():
    """At the 80 % detectable difference, 4000 simulated Welch tests reject 80 % ± 4 SE."""
    sd1, n1, sd2, n2, alpha = 0.05, 16, 0.08, 10, 0.01
    delta = iv.welch_detectable(sd1, n1, sd2, n2, alpha)
    assert iv.welch_power(delta, sd1, n1, sd2, n2, alpha) == pytest.approx(0.8, abs=1e-6)
    rng = np.random.default_rng(4)
    x = rng.normal(delta, sd1, (4000, n1))
    y = rng.normal(0.0, sd2, (4000, n2))
    rate = float((stats.ttest_ind(x, y, axis=1, equal_var=False).pvalue < alpha).mean())
    assert abs(rate - 0.8) < 4 * math.sqrt(0.16 / 4000)


def test_verdict_rules():
    assert decide(-0.1, 0.1, 0.25, rejected=False) == AGREES
    assert decide(-0.1, 0.1, 0.25, rejected=True) == AGREES  # real but smaller than the margin
    assert decide(0.3, 0.6, 0.25, rejected=True) == DIFFERS
    assert decide(-0.1, 0.4, 0.25, rejected=False) == INCONCLUSIVE
    assert decide(math.nan, math.nan, 0.25, rejected=False) == INCONCLUSIVE


def test_a_too_small_reference_is_inconclusive_not_agreeing():
    """16/32 against 4/8: the Fisher test cannot reject, but the 8-seed reference alone spans
    ±0.3, so the row is inconclusive, and no number of relulab seeds fixes it."""
    small = fisher_claim("g", "n", (16, 32), (4, 8), "src")
    assert small.passed and small.verdict == INCONCLUSIVE and small.seeds_needed is None
    assert small.ci_low < -RATE_MARGIN and "no number of relulab seeds" in small.note
    big = fisher_claim("g", "n", (128, 256), (16, 32), "src")
    assert big.verdict == AGREES and -RATE_MARGIN < big.ci_low < big.ci_high < RATE_MARGIN
    few = fisher_claim("g", "n", (4, 8), (16, 32), "src")  # relulab's side too small
    assert few.verdict == INCONCLUSIVE and few.seeds_needed is not None
    assert few.seeds_needed > 8
    again = fisher_claim("g", "n", (few.seeds_needed // 2, few.seeds_needed), (16, 32), "src")
    assert again.verdict == AGREES
    far = fisher_claim("g", "n", (2, 32), (32, 32), "src")
    assert far.verdict == DIFFERS and not far.passed


def test_welch_claim_verdicts():
    rng = np.random.default_rng(5)
    ref = rng.normal(0.74, 0.04, 10).tolist()
    same = welch_claim("g", "n", rng.normal(0.74, 0.04, 32).tolist(), ref, "src", RHO_MARGIN)
    assert same.verdict == AGREES and same.ci_low < same.difference < same.ci_high
    shifted = welch_claim("g", "n", rng.normal(0.5, 0.04, 32).tolist(), ref, "src",
                          RHO_MARGIN)
    assert shifted.verdict == DIFFERS and shifted.value < 0.01
    three = welch_claim("g", "n", rng.normal(0.74, 0.04, 3).tolist(), ref[:3], "src",
                        RHO_MARGIN)
    assert three.verdict == INCONCLUSIVE and three.detectable > RHO_MARGIN
    one = welch_claim("g", "n", [0.74], ref, "src", RHO_MARGIN)
    assert one.verdict == INCONCLUSIVE and math.isnan(one.value)


def test_old_rows_without_a_verdict_read_back():
    row = {"group": "g", "name": "n", "relulab": "1", "reference": "1", "source": "s",
           "statistic": "|diff|", "value": None, "criterion": "≤ 1", "passed": False}
    claim = Claim.from_dict(row)
    assert claim.verdict == DIFFERS and math.isnan(claim.value) and math.isnan(claim.margin)
