"""relulab theory overlay: the SGD gradient is the population gradient's unbiased estimate,
SGD approaches the flow as lr shrinks, and the matrix form is exact only at the output layer."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from relulab.cli import app
from relulab.config import ConfigError
from relulab.experiments import matrix_track as mt
from relulab.experiments import overlay as ov
from relulab.theory.population import grad

SMALL = ov.OverlayConfig(d=5, teachers=2, students=(2, 4), lrs=(0.04, 0.0025), batch=8,
                         t_max=2.0, records=11, seeds=8)
TINY_TRACK = mt.TrackConfig(preset="luck-fc-small", multi=1, epochs=2, steps_per_epoch=5,
                            train_size=500, samples=256, seeds=2)


def test_sgd_gradient_is_the_hand_written_batch_gradient():
    g = torch.Generator().manual_seed(0)
    W_star, W = (torch.randn(2, k, 5, generator=g, dtype=torch.float64) for k in (2, 3))
    x = torch.randn(2, 7, 5, generator=g, dtype=torch.float64)
    residual = torch.relu(x @ W.mT).sum(-1) - torch.relu(x @ W_star.mT).sum(-1)  # (S, B)
    gates = (x @ W.mT > 0).to(x.dtype)  # (S, B, K)
    expected = torch.einsum("sb,sbk,sbd->skd", residual, gates, x) / x.shape[1]
    torch.testing.assert_close(ov.sgd_gradient(W, W_star, x), expected, rtol=1e-12, atol=1e-12)


def test_sgd_gradient_estimates_the_population_gradient():
    # 200k samples: per-sample gradients have relative std ~ 3-5, so the mean is within ~1 %;
    # 5 % leaves room and still catches a wrong factor (½, 2) or sign.
    W_star, W0 = ov.draw_problem(SMALL, 3)
    x = torch.randn(SMALL.seeds, 200_000, SMALL.d, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    est, exact = ov.sgd_gradient(W0, W_star, x), grad(W0, W_star)
    assert float((est - exact).norm() / exact.norm()) < 0.05


def test_sgd_approaches_the_flow_as_lr_shrinks():
    variants, rows = ov.overlay(SMALL)
    for v in variants:
        for lr in SMALL.lrs:
            assert float(v.weight_dev[lr][0].abs().max()) == 0.0  # the same initial weights
    by = {(r.students, r.lr): r for r in rows}
    for k in SMALL.students:
        big, small = by[(k, 0.04)], by[(k, 0.0025)]
        assert (big.steps, small.steps) == (50, 800)
        # noise O(sqrt(lr)): 16x smaller lr -> ~4x smaller deviation; ask for 2x
        assert small.weight_median < 0.5 * big.weight_median
        assert small.angle_median < 0.5 * big.angle_median
        assert 0 < small.weight_median < 0.1


@pytest.mark.parametrize("kwargs", [{"lrs": (0.03,)}, {"students": (0,)}, {"batch": 0},
                                    {"t_max": float("nan")}, {"records": 1}])
def test_overlay_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        ov.OverlayConfig(**kwargs)


def test_matrix_form_exact_at_the_output_layer_along_training():
    rows = mt.track(TINY_TRACK)
    table = mt.error_table(rows)
    assert sorted(table) == [1, 2, 3, 4, 5]
    for layer, values in table.items():
        assert [e for e, _, _ in values] == [0, 1, 2]
        for _, median, worst in values:
            if layer == 5:  # linear output: f' = 1, β = I, nothing decoupled
                assert worst < 1e-10
            else:
                assert median > 1e-3


def test_track_config_rejects_conv_and_unknown_presets():
    for preset in ("luck-conv", "nope"):
        with pytest.raises(ConfigError):
            mt.TrackConfig(preset=preset)


def test_cli_overlay_tables_and_figures(tmp_path):
    res = CliRunner().invoke(app, [
        "theory", "overlay", "--d", "4", "--teachers", "2", "--students", "2", "--lrs",
        "0.05,0.0125", "--t-max", "1", "--records", "5", "--seeds", "3", "--preset",
        "luck-fc-small", "--multi", "1", "--epochs", "1", "--steps", "3", "--deep-seeds", "1",
        "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "SGD (fresh samples) vs gradient flow" in res.output and "Matrix form" in res.output
    for name in ("overlay_two_layer.png", "overlay_matrix_form.png"):
        assert (tmp_path / "theory" / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,msg", [
    (["--lrs", "0.03"], "must divide the record spacing"),
    (["--lrs", "0"], "--lrs values must be positive"),
    (["--students", "0"], "--students values must be >= 1"),
    (["--preset", "luck-conv"], "needs an fc teacher"),
])
def test_cli_overlay_bad_input(args, msg):
    res = CliRunner().invoke(app, ["theory", "overlay", *args])
    assert res.exit_code == 2 and msg in res.output, res.output
