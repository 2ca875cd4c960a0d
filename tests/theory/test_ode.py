import math

import pytest
import torch

from relulab.theory.ode import dormand_prince, fixed_step

DT = torch.float64


def _decay(rates: torch.Tensor):
    """ẏ = −λ_b y with one rate per trajectory (stiffness differs across the batch)."""
    def field(y, rows):
        return -rates[rows].reshape(-1, *([1] * (y.dim() - 1))) * y
    return field


@pytest.mark.parametrize("method,step,order", [("euler", 1e-3, 1), ("rk4", 0.05, 4)])
def test_fixed_step_order(method, step, order):
    rates = torch.tensor([0.5, 1.0, 2.0], dtype=DT)
    y0 = torch.ones(3, 2, dtype=DT)
    times = torch.tensor([0.0, 1.0], dtype=DT)
    exact = torch.exp(-rates)[:, None] * y0
    errs = []
    for h in (step, step / 2):
        ys, n = fixed_step(_decay(rates), y0, times, step=h, method=method)
        errs.append(float((ys[-1] - exact).abs().max()))
        assert int(n[0]) == round(1 / h)
    # halving the step divides the error by ~2^order
    assert errs[0] / errs[1] == pytest.approx(2**order, rel=0.1)


def test_dormand_prince_tolerance_and_records():
    rates = torch.tensor([0.1, 1.0, 10.0], dtype=DT)
    y0 = torch.tensor([[1.0], [2.0], [-1.0]], dtype=DT)
    times = torch.tensor([0.0, 0.3, 1.0, 2.5], dtype=DT)
    ys, n = dormand_prince(_decay(rates), y0, times, rtol=1e-9, atol=1e-12)
    exact = torch.exp(-rates[None, :, None] * times[:, None, None]) * y0
    torch.testing.assert_close(ys, exact, rtol=1e-7, atol=1e-10)
    assert n[2] > n[0]  # the stiff trajectory needed more steps: per-trajectory step control
    ys_loose, n_loose = dormand_prince(_decay(rates), y0, times, rtol=1e-4, atol=1e-6)
    assert (n_loose < n).all()
    assert float((ys_loose - exact).abs().max()) < 1e-3


def test_dormand_prince_unreached_records_are_nan():
    rates = torch.tensor([1.0], dtype=DT)
    ys, _ = dormand_prince(_decay(rates), torch.ones(1, 1, dtype=DT),
                           torch.tensor([0.0, 1.0, 100.0], dtype=DT), max_steps=3,
                           first_step=0.01)
    assert math.isnan(float(ys[-1, 0, 0])) and float(ys[0, 0, 0]) == 1.0


def test_bad_arguments():
    f = _decay(torch.ones(1, dtype=DT))
    with pytest.raises(ValueError):
        fixed_step(f, torch.ones(1, 1, dtype=DT), torch.tensor([0.0, 1.0], dtype=DT), step=0.1,
                   method="heun")
    with pytest.raises(ValueError):
        fixed_step(f, torch.ones(1, 1, dtype=DT), torch.tensor([0.0, 1.0], dtype=DT), step=0.0)
