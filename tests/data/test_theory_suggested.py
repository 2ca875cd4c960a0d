"""The theory-suggested training set (PAPERS.md §4) against a hand-written per-point
reference, its invariants, determinism per seed, and its bad-input errors."""

import math

import pytest
import torch
from typer.testing import CliRunner

from relulab import get_preset, with_overrides
from relulab.cli import app
from relulab.config import ConfigError
from relulab.data.suggested import boundary_points, set_size, theory_suggested_set
from relulab.training.engine import _setup


def _reference(weight, bias, n, std, mean, width, gen):
    """The original's loop, point by point, with relulab's draw order (all z, then all α)."""
    m, d = weight.shape
    k = math.ceil(n / (3 * m))
    z = torch.randn((m, k, d), generator=gen).double() * std
    alphas = torch.rand((m, k, 1), generator=gen).double() * width + mean
    out = []
    for i in range(m):
        w = torch.cat([weight[i], bias[i:i + 1]]).double()
        base, plus, minus = [], [], []
        for j in range(k):
            zt = torch.cat([z[i, j], torch.ones(1, dtype=torch.float64)])
            p = zt - (w @ zt) * w / (w @ w)
            x = p[:-1] / p[-1]
            a = alphas[i, j, 0]
            base.append(x)
            plus.append(x + a * w[:-1])
            minus.append(x - a * w[:-1])
        out += base + plus + minus
    pts = torch.stack(out)
    return pts / pts.norm(dim=1, keepdim=True) * std * math.sqrt(d)


def test_matches_point_by_point_reference(generator):
    weight = torch.randn(3, 5, generator=generator)
    bias = torch.randn(3, generator=generator) * 0.3
    got = theory_suggested_set(weight, bias, 20, 1.5, 1.0, 0.5,
                               generator=torch.Generator().manual_seed(7))
    ref = _reference(weight, bias, 20, 1.5, 1.0, 0.5, torch.Generator().manual_seed(7))
    assert got.shape == (3 * 3 * math.ceil(20 / 9), 5) == ref.shape
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_boundary_points_lie_on_the_boundary(generator):
    weight = torch.randn(4, 6, generator=generator).double()
    bias = torch.randn(4, generator=generator).double()
    z = torch.randn(4, 10, 6, generator=generator).double() * 2
    x = boundary_points(weight, bias, z)
    pre = torch.einsum("mkd,md->mk", x, weight) + bias[:, None]
    assert pre.abs().max() < 1e-10


@pytest.mark.parametrize("n,m,size", [(30, 10, 30), (31, 10, 60), (10000, 20, 10020)])
def test_set_size(n, m, size):
    assert set_size(n, m) == size


def _cfg(**kw):
    base = {"data.kind": "theory_suggested", "N": "100", "m": "4", "epochs": "1",
            "steps_per_epoch": "2"}
    return with_overrides(get_preset("demo"), {**base, **kw})


def test_engine_uses_it_per_seed_and_keeps_eval_gaussian():
    cfg = _cfg()
    run = _setup([cfg] * 3, [0, 1, 2], "cpu", None, None, None)
    alone = _setup([cfg], [1], "cpu", None, None, None)
    gauss = _setup([with_overrides(cfg, {"data.kind": "gaussian"})], [1], "cpu", None, None, None)
    assert run.train_x.shape == (3, set_size(100, 4), 20)
    assert torch.equal(run.train_x[1], alone.train_x[0])  # deterministic per seed
    assert not torch.equal(run.train_x[0], run.train_x[1])
    torch.testing.assert_close(run.train_x.norm(dim=-1),
                               torch.full((3, 108), 1.5 * math.sqrt(20), dtype=torch.float64))
    assert torch.equal(alone.eval_x, gauss.eval_x)  # the eval set stays Gaussian
    # built from the seed's own teacher: node 0's boundary points x (u·x = −b) rescaled by
    # s > 0 have u·(s x) = −s b, the sign opposite to b
    w, b = alone.teacher.weights[0][0], alone.teacher.biases[0][0]
    k = set_size(100, 4) // 12
    pre = alone.train_x[0, :k] @ w[0]
    assert (pre * b[0] < 0).all()


@pytest.mark.parametrize("override,msg", [
    ({"N": "11"}, "needs data.train_size >= 3 m = 12"),
    ({"alpha_width": "0"}, "data.alpha_width must be > 0"),
    ({"widths": "4,4"}, "needs a two-layer fc teacher"),
])
def test_bad_input_errors(override, msg):
    with pytest.raises(ConfigError, match=msg):
        _cfg(**override)


@pytest.mark.parametrize("sets,msg", [
    (["N=11"], "needs data.train_size >= 3 m"), (["alpha_width=-1"], "alpha_width must be > 0")])
def test_cli_bad_input_exit_2(sets, msg):
    args = ["train", "--preset", "demo", "--seeds", "1", "--steps", "1", "--no-progress",
            "--set", "data.kind=theory_suggested", "--set", "m=4"]
    for s in sets:
        args += ["--set", s]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output
