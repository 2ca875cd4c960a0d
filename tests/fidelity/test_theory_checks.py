import dataclasses
import math

import pytest

from relulab.fidelity import theory_checks as tc
from relulab.fidelity.claims import Claim
from relulab.theory import symmetric
from relulab.threads import one_thread


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny float64 kernels: one intra-op thread (as theory_claims itself uses)."""
    with one_thread():
        yield


def test_quick_theory_claims_all_pass():
    claims = tc.theory_claims(quick=True)
    names = [c.name for c in claims]
    assert len(claims) == 11 and len(set(names)) == 11  # 1 + 5 saddles + 3 (K = 6) + 2
    for c in claims:
        assert c.passed, c
        assert c.group == "theory" and math.isfinite(c.value), c
        assert Claim.from_dict(c.to_dict()) == c
    assert sum(n.startswith("x⁺ saddle") for n in names) == 5


def _shifted(dx: float, diagonal: bool):
    """critical_points with the diagonal (or off-diagonal) points moved by ``dx`` in x and y."""
    def fake(k, **kw):
        return [dataclasses.replace(p, x=p.x + dx, y=p.y + dx)
                if (abs(p.x - p.y) < 1e-9) == diagonal else p
                for p in symmetric.critical_points(k, **kw)]
    return fake


def test_shifted_saddle_fails(monkeypatch):
    monkeypatch.setattr(tc, "critical_points", _shifted(2e-6, diagonal=True))
    claims = tc.saddle_claims(quick=True)
    assert len(claims) == 5 and not any(c.passed for c in claims)
    assert all(1e-6 < c.value < 3e-6 for c in claims)


def test_moved_or_unstable_spurious_minimum_fails(monkeypatch):
    monkeypatch.setattr(tc, "critical_points", _shifted(2e-3, diagonal=False))
    loc, j, hess = tc.spurious_minimum_claims(quick=True)
    assert not loc.passed and j.passed and hess.passed  # J is not recomputed by the fake

    def one_negative(k, **kw):  # same point, but a negative direction in K·K space
        return [dataclasses.replace(p, full_signature=(1, 0, k * k - 1))
                for p in symmetric.critical_points(k, **kw)]
    monkeypatch.setattr(tc, "critical_points", one_negative)
    loc, j, hess = tc.spurious_minimum_claims(quick=True)
    assert loc.passed and j.passed and not hess.passed and hess.value == 1
    monkeypatch.setattr(tc, "critical_points", lambda k, **kw: [])
    assert not any(c.passed for c in tc.spurious_minimum_claims(quick=True))


def test_wrong_gradient_rule_fails(monkeypatch):
    monkeypatch.setattr(tc, "rule_errors", lambda *a: [0.0, 1e-9])
    (claim,) = tc.theorem1_claims(quick=True)
    assert not claim.passed and claim.value == pytest.approx(1e-9)


def test_undertrained_theorem5_run_fails(monkeypatch):
    """10 steps instead of 3000: the fan-outs have not separated (ratio ≈ 1.6 at init)."""
    monkeypatch.setattr(tc, "THM5_ITERS", {True: 10, False: 10})
    rel, irr = tc.thm5_claims(quick=True)
    assert not rel.passed and not irr.passed
    assert 1 < rel.value < 4 and irr.value > 0.25
