"""Tian 2017 closed forms for one ReLU (K = 1): the convergent region Ω and the paper's
(1 − ε)/2 bound on the chance of starting in it (docs/theory.md)."""

from __future__ import annotations

import math

from scipy import stats


def basin_probability(d: int, std: float) -> float:
    """P(w0 ∈ Ω) for w0 ~ N(0, std² I_d), Ω = {|w − w*| < |w*|}, |w*| = 1: the region Tian 2017
    proves converges for K = 1. |w0 − w*|²/std² is non-central χ²_d(λ = 1/std²)."""
    lam = 1.0 / std**2
    return float(stats.ncx2.cdf(lam, d, lam))


def paper_bound(d: int, std: float) -> float:
    """(1 − ε)/2 with ε = r·c_d, r = std·√d the typical init radius and
    c_d = Γ(d/2)/(√π Γ((d−1)/2)) the peak density of cos∠(w0, w*) — our derivation of the
    bound's form: for |w0| = r, w0 ∈ Ω ⇔ cos∠ > r/2, and P(0 < cos∠ < r/2) ≤ c_d·r/2.
    The paper states ε = O(std·√d·√d); clamped at 0."""
    c_d = math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) / math.sqrt(math.pi)
    return max(0.0, (1 - std * math.sqrt(d) * c_d) / 2)
