import pytest
import torch

from relulab.config import ConfigError
from relulab.theory import convergence as C

DT = torch.float64


def test_wilson_interval_hand_cases():
    lo, hi = C.wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert C.wilson_interval(0, 10)[0] == 0.0 and C.wilson_interval(10, 10)[1] == 1.0


def test_basin_probability_matches_monte_carlo(generator):
    """P(|w0 − e1| < 1), w0 ~ N(0, 0.3² I_5): 4e5 draws, binomial SE ≤ 8e-4, 5 SE tolerance."""
    n, d, std = 400_000, 5, 0.3
    w0 = torch.randn(n, d, generator=generator, dtype=DT) * std
    w0[:, 0] -= 1.0
    frac = float((w0.norm(dim=1) < 1).to(DT).mean())
    assert frac == pytest.approx(C.basin_probability(d, std), abs=5 * 0.5 / n**0.5)
    assert C.paper_bound(d, std) <= C.basin_probability(d, std)  # (1−ε)/2 is a lower bound


def test_single_relu_converges_at_least_as_often_as_the_bound(generator):
    rows = C.single_relu_convergence([3, 10], [0.05, 0.5], n_inits=100, generator=generator,
                                     t_max=60.0)
    assert len(rows) == 4
    for r in rows:
        assert r.converged >= r.bound and r.ci_low <= r.converged <= r.ci_high
        assert r.final_loss_max < 1e-8 or r.converged < 1


def test_symmetry_breaking_reaches_permutations(generator):
    res = C.symmetry_breaking(3, n_trials=16, generator=generator, max_steps=4000)
    assert res.start_spread < 1e-4  # started (numerically) symmetric
    assert bool(res.converged.all())
    assert (torch.sort(res.permutations, -1).values == torch.arange(3)).all()
    assert res.distinct_permutations > 1  # the noise picks the permutation
    assert (res.final_loss < 1e-7).all() and (res.steps < 4000).all()


def test_without_noise_students_stay_equal(generator):
    res = C.symmetry_breaking(3, n_trials=2, generator=generator, noise=1e-300, max_steps=300)
    assert not bool(res.converged.any())


def test_bad_arguments(generator):
    with pytest.raises(ConfigError):
        C.single_relu_convergence([1], [0.1], n_inits=10, generator=generator)
    with pytest.raises(ConfigError):
        C.single_relu_convergence([5], [-0.1], n_inits=10, generator=generator)
    with pytest.raises(ConfigError):
        C.symmetry_breaking(1, n_trials=2, generator=generator)
