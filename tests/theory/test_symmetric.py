import math

import pytest
import torch

from relulab.config import ConfigError
from relulab.theory import population as P
from relulab.theory import symmetric as S

DT = torch.float64
PAPER_X_PLUS = {2: 0.534155, 3: 0.382024, 4: 0.304499, 5: 0.256841, 6: 0.224270}


def _paper_field(x: float, y: float, K: int) -> tuple[float, float]:
    """The closed-form 2-D dynamics of the original ICML17_ReLU ``dynamics.py`` (A = x, a = y),
    transcribed independently of relulab: ẋ = dA/(2π), ẏ = da/(2π)."""
    alpha = 1 / math.sqrt(x**2 + (K - 1) * y**2)
    theta = math.acos(x * alpha)
    phi_star = math.acos(y * alpha)
    phi = math.acos((2 * x * y + (K - 2) * y * y) * alpha**2)
    term1 = (math.pi - phi) * ((x - 1) + (K - 1) * y)
    term3 = (K - 1) * (alpha * math.sin(phi_star) - math.sin(phi)) + alpha * math.sin(theta)
    dx = -term1 - phi * (x - 1) + term3 * x - theta
    dy = -term1 - phi * y + term3 * y - (phi_star - phi)
    return dx / (2 * math.pi), dy / (2 * math.pi)


@pytest.mark.parametrize("K", [2, 3, 5, 8])
def test_family_is_invariant_and_field_matches_paper_closed_form(K, generator):
    xy = torch.rand(20, 2, generator=generator, dtype=DT) * 1.6 - 0.3
    W = S.symmetric_weights(xy[:, 0], xy[:, 1], K)
    _, _, residual = S.project(P.grad(W, S.teacher(K)))
    assert residual.max() < 1e-14  # the gradient stays in the family (permutation symmetry)
    u, v = S.reduced_field(xy[:, 0], xy[:, 1], K)
    for i in range(20):
        px, py = _paper_field(float(xy[i, 0]), float(xy[i, 1]), K)
        assert float(u[i]) == pytest.approx(px, abs=1e-12)
        assert float(v[i]) == pytest.approx(py, abs=1e-12)


@pytest.mark.parametrize("K", sorted(PAPER_X_PLUS))
def test_paper_saddle_values_reproduce(K):
    assert S.diagonal_saddle_x(K) == pytest.approx(PAPER_X_PLUS[K], abs=1e-6)
    points = S.critical_points(K, grid=11)
    diag = [p for p in points if abs(p.x - p.y) < 1e-9 and p.x > 0]
    assert len(diag) == 1
    assert diag[0].x == pytest.approx(PAPER_X_PLUS[K], abs=1e-6)
    assert diag[0].reduced_kind == "saddle" and diag[0].kind == "saddle"
    assert any(abs(p.x - 1) < 1e-9 and abs(p.y) < 1e-9 and p.kind == "minimum" for p in points)


def test_spurious_minimum_k6_is_a_true_local_minimum():
    """Paper: K = 6, (x, y) ≈ (−0.663, 0.331), J ≈ 0.0557. We find it, and all 36 Hessian
    eigenvalues are positive (smallest ≈ 1.5e-3, far above round-off)."""
    p = S.classify(-0.663397, 0.330710, 6)
    assert p.residual < 1e-6 and p.loss == pytest.approx(0.0557, abs=1e-4)
    assert p.full_signature == (0, 0, 36) and p.min_eigenvalue > 1e-3


def test_k5_off_diagonal_minimum_is_a_saddle_in_full_space():
    """For K = 5 the analogous point minimizes J within the 2-D family but not in K·K space."""
    points = S.critical_points(5, grid=11)
    off = [p for p in points if p.x < -0.5]
    assert len(off) == 1 and off[0].reduced_kind == "minimum" and off[0].kind == "saddle"


def test_hessian_at_coincident_students_matches_finite_differences():
    """At x = y all students coincide; the Gram-form loss is C² there and autograd must see its
    Hessian. Central differences of the closed-form gradient with step 1e-5 carry an O(h) error
    from the |δ|³ term of k near θ = 0, hence atol 1e-4."""
    K = 3
    x = S.diagonal_saddle_x(K)
    w0 = S.symmetric_weights(torch.tensor(x, dtype=DT), torch.tensor(x, dtype=DT), K).flatten()
    star = S.teacher(K)
    H = torch.autograd.functional.hessian(lambda w: P.loss(w.view(K, K), star), w0)
    h = 1e-5
    fd = torch.stack([(P.grad((w0 + h * e).view(K, K), star)
                       - P.grad((w0 - h * e).view(K, K), star)).flatten() / (2 * h)
                      for e in torch.eye(K * K, dtype=DT)], 1)
    assert torch.isfinite(H).all()
    torch.testing.assert_close(H, fd, rtol=0, atol=1e-4)


def test_bad_arguments():
    with pytest.raises(ConfigError):
        S.critical_points(1)
    with pytest.raises(ConfigError):
        S.critical_points(3, grid=1)
