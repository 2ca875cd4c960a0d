import pytest
import torch

from relulab.theory import single_relu as R

DT = torch.float64


def test_basin_probability_matches_monte_carlo(generator):
    """P(|w0 − e1| < 1), w0 ~ N(0, 0.3² I_5): 4e5 draws, binomial SE ≤ 8e-4, 5 SE tolerance."""
    n, d, std = 400_000, 5, 0.3
    w0 = torch.randn(n, d, generator=generator, dtype=DT) * std
    w0[:, 0] -= 1.0
    frac = float((w0.norm(dim=1) < 1).to(DT).mean())
    assert frac == pytest.approx(R.basin_probability(d, std), abs=5 * 0.5 / n**0.5)
    assert R.paper_bound(d, std) <= R.basin_probability(d, std)  # (1−ε)/2 is a lower bound
