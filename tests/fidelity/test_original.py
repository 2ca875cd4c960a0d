"""relulab against the original code's recorded outputs, and the statistics of the claims."""

import math

import pytest
from scipy import stats

from relulab.config import with_overrides
from relulab.fidelity import original
from relulab.fidelity.claims import (
    DIFFERS,
    RHO_MARGIN,
    Claim,
    fisher_claim,
    read_claims,
    welch_claim,
    write_claims,
)


def test_fisher_claim_is_scipys_two_sided_test():
    same = fisher_claim("g", "n", (30, 32), (8, 8), "src")
    assert same.passed and same.relulab == "30/32" and same.reference == "8/8"
    assert same.value == pytest.approx(stats.fisher_exact([[30, 2], [8, 0]]).pvalue)
    far = fisher_claim("g", "n", (2, 32), (8, 8), "src")  # the mean-over-outputs loss
    assert not far.passed and far.value < 1e-4 and far.verdict == DIFFERS


def test_welch_claim_passes_on_agreement_and_fails_on_a_shift():
    ref = [0.947, 0.944, 0.941]
    assert welch_claim("g", "n", [0.95, 0.94, 0.946, 0.943], ref, "src", RHO_MARGIN).passed
    shifted = welch_claim("g", "n", [0.80, 0.81, 0.79, 0.80], ref, "src", RHO_MARGIN)
    assert not shifted.passed and shifted.value < 0.01 and shifted.verdict == DIFFERS
    # one relulab value: no t test, no interval
    one = welch_claim("g", "n", [0.944], ref, "src", RHO_MARGIN)
    assert math.isnan(one.value) and one.passed and one.verdict == "inconclusive"


def test_claims_round_trip_through_validate_json(tmp_path):
    claims = [fisher_claim("g", "a", (1, 2), (1, 2), "s"),
              Claim("g", "b", "x", "y", "s", "|diff|", math.nan, "≤ 1", False)]
    meta, back = read_claims(write_claims(tmp_path / "validate.json", claims, mode="quick"))
    assert meta["mode"] == "quick" and back[0] == claims[0]
    assert back[1].name == "b" and math.isnan(back[1].value)


def test_reference_settings_are_the_originals():
    cfg = original.two_layer_config()
    t, o, d = cfg.teacher, cfg.optim, cfg.data
    assert (t.input_dim, t.widths, t.output_dim, cfg.student_widths) == (20, (5,), 20, (10,))
    assert (o.lr, o.batch_size, o.epochs, cfg.steps_per_epoch) == (0.01, 16, 10, 500)
    assert (o.loss, cfg.dtype, d.sampling, d.train_size, d.eval_size, d.std) == (
        "half_sum", "float64", "replacement", 2000, 10000, 1.5)
    assert (t.bias, t.bias_value, t.normalize, cfg.student.init_std) == (
        "constant", -0.1, "fan_in", 0.005)
    luck = original.luck_config()
    assert (luck.teacher.widths, luck.student_widths) == ((10, 15, 20, 25), (100, 150, 200, 250))
    assert (luck.optim.lr, luck.optim.batch_size, luck.steps_per_epoch, luck.optim.loss) == (
        0.01, 64, 1563, "mse")


def test_two_layer_reference_reproduces():
    claims = original.two_layer_claims(32)
    assert len(claims) == 2 * 2 * 5 + 1 + 2  # p x (epoch 5, final) x nodes, p=0 rate, losses
    differs = [c for c in claims if c.verdict == DIFFERS]
    assert not differs, differs
    assert all(c.passed for c in claims)
    # p = 0: 32/32 against 32/32 on every node, conclusively inside ±0.25
    p0 = [c for c in claims if c.group.startswith("two-layer p=0") and "successes" in c.name]
    assert len(p0) == 10 and all(c.verdict == "agrees" for c in p0), p0


def test_the_mse_convention_differs(monkeypatch):
    """With torch's MSELoss (mean over the c = 20 outputs: 10x smaller steps) the rows differ:
    success counts after 5 epochs and the final losses."""
    cfg = with_overrides(original.two_layer_config(), {"loss": "mse"})
    monkeypatch.setattr(original, "two_layer_config", lambda ref=None: cfg)
    claims = original.two_layer_claims(32)
    differs = {(c.group, c.name) for c in claims if c.verdict == DIFFERS}
    assert ("two-layer p=0, final", "log10 eval loss (MSE)") in differs
    assert ("two-layer p=2, final", "log10 eval loss (MSE)") in differs
    assert len(differs) >= 5
    assert all(c.verdict != "agrees" for c in claims
               if c.group == "two-layer p=0, after 5 epochs")
