import pytest
import torch

from relulab.config import ConfigError
from relulab.experiments import convergence as C

DT = torch.float64


def test_wilson_interval_hand_cases():
    """By hand, z = Φ⁻¹(0.975) = 1.959964: for k successes of n, the ends are
    (k + z²/2 ± z·√(k(n − k)/n + z²/4)) / (n + z²).
    8/10: (9.920729 ± 3.136166)/13.841459 = 0.490162, 0.943318;
    50/100: (51.920729 ± 9.986274)/103.841459 = 0.403832, 0.596168.
    At 0 (n) successes the lower (upper) end is exactly 0 (1)."""
    lo, hi = C.wilson_interval(8, 10)
    assert lo == pytest.approx(0.490162, abs=1e-6) and hi == pytest.approx(0.943318, abs=1e-6)
    lo, hi = C.wilson_interval(50, 100)
    assert lo == pytest.approx(0.403832, abs=1e-6) and hi == pytest.approx(0.596168, abs=1e-6)
    assert C.wilson_interval(0, 10)[0] == 0.0 and C.wilson_interval(10, 10)[1] == 1.0
    assert C.wilson_interval(0, 0) == (0.0, 1.0)


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
    median, low, high = res.converged_steps()
    assert low == int(res.steps.min()) and high == int(res.steps.max()) and low <= median <= high


def test_without_noise_students_stay_equal(generator):
    res = C.symmetry_breaking(3, n_trials=2, generator=generator, noise=1e-300, max_steps=300)
    assert not bool(res.converged.any())
    assert res.converged_steps() is None


def test_bad_arguments(generator):
    with pytest.raises(ConfigError):
        C.single_relu_convergence([1], [0.1], n_inits=10, generator=generator)
    with pytest.raises(ConfigError):
        C.single_relu_convergence([5], [-0.1], n_inits=10, generator=generator)
    with pytest.raises(ConfigError):
        C.symmetry_breaking(1, n_trials=2, generator=generator)
