import math

import pytest
import torch

from relulab.theory import population as P

DT = torch.float64

# Monte Carlo: N = 1e6 Gaussian samples. Each check asserts |closed form − sample mean| < Z·SE,
# SE = sample std / √N (≈ 1e-3 for unit-norm weights). Z = 5 gives a false-alarm rate of
# 6e-7 per component (~1e-5 over this file) while any formula error above ~5e-3 is caught.
N_MC = 1_000_000
Z = 5.0


@pytest.fixture(scope="module")
def mc_x() -> torch.Tensor:
    g = torch.Generator().manual_seed(20170301)
    return torch.randn(N_MC, 4, generator=g, dtype=DT)


def _mc_check(samples: torch.Tensor, closed: torch.Tensor) -> None:
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(samples.shape[0])
    assert torch.all((mean - closed).abs() < Z * se + 1e-12), (mean, closed, se)


def _pairs(g: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    w = torch.randn(4, generator=g, dtype=DT)
    return [
        (w, torch.randn(4, generator=g, dtype=DT)),  # generic
        (w, 2.5 * w + 1e-3 * torch.randn(4, generator=g, dtype=DT)),  # nearly parallel
        (w, -0.7 * w + 0.2 * torch.randn(4, generator=g, dtype=DT)),  # obtuse
        (w, w),  # identical
        (0.3 * w, torch.randn(4, generator=g, dtype=DT)),  # different norms
    ]


def test_k_matches_monte_carlo(mc_x, generator):
    relu = torch.relu
    for w, v in _pairs(generator):
        _mc_check((relu(mc_x @ w) * relu(mc_x @ v))[:, None], P.k(w, v)[None])


def test_F_matches_monte_carlo(mc_x, generator):
    for w, v in _pairs(generator):
        samples = mc_x * ((mc_x @ w) > 0).to(DT)[:, None] * torch.relu(mc_x @ v)[:, None]
        _mc_check(samples, P.F(w, v))


def test_loss_matches_monte_carlo(mc_x, generator):
    W = torch.randn(3, 4, generator=generator, dtype=DT)
    W_star = torch.randn(2, 4, generator=generator, dtype=DT)
    g = torch.relu(mc_x @ W.T).sum(1)
    g_star = torch.relu(mc_x @ W_star.T).sum(1)
    _mc_check((0.5 * (g - g_star) ** 2)[:, None], P.loss(W, W_star)[None])


def test_angle_hand_cases():
    e1, e2 = torch.eye(2, dtype=DT)
    assert P.angle(e1, e1) == 0
    assert torch.isclose(P.angle(e1, -e1), torch.tensor(math.pi, dtype=DT))
    assert torch.isclose(P.angle(e1, e2), torch.tensor(math.pi / 2, dtype=DT))
    # arccos(cos 1e-9) would return 0: the atan2 form keeps full relative precision
    tiny = torch.tensor([1.0, 1e-9], dtype=DT)
    assert abs(float(P.angle(e1, tiny)) - 1e-9) < 1e-22
    assert abs(float(P.angle(-e1, tiny)) - (math.pi - 1e-9)) < 1e-15


def test_closed_form_identities_and_zero_vectors():
    w = torch.tensor([0.3, -1.2, 2.0], dtype=DT)
    zero = torch.zeros(3, dtype=DT)
    torch.testing.assert_close(P.F(w, w), w / 2, rtol=0, atol=1e-15)
    torch.testing.assert_close(P.k(w, w), w.dot(w) / 2, rtol=1e-15, atol=0)
    for out in (P.angle(zero, w), P.k(zero, w), P.F(zero, w), P.F(w, zero), P.k(zero, zero)):
        assert torch.isfinite(out).all()
    assert P.k(zero, w) == 0 and (P.F(zero, w) == 0).all() and (P.F(w, zero) == 0).all()
    W = torch.stack([w, zero])
    assert torch.isfinite(P.grad(W, w[None])).all() and (P.grad(W, w[None])[1] == 0).all()
    # orthogonal unit vectors: k = 1/(2π), F(e1, e2) = (π/2 e2 + e1)/(2π)
    e1, e2 = torch.eye(2, dtype=DT)
    torch.testing.assert_close(P.k(e1, e2), torch.tensor(1 / (2 * math.pi), dtype=DT))
    torch.testing.assert_close(P.F(e1, e2), (math.pi / 2 * e2 + e1) / (2 * math.pi))


@pytest.mark.parametrize("K,M,d,lead", [(1, 1, 2, ()), (3, 5, 4, (2,)), (6, 2, 7, (2, 3))])
def test_grad_is_autograd_of_loss(K, M, d, lead, generator):
    W = torch.randn(*lead, K, d, generator=generator, dtype=DT)
    W_star = torch.randn(*lead, M, d, generator=generator, dtype=DT)
    Wg = W.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(P.loss(Wg, W_star).sum(), Wg)
    torch.testing.assert_close(P.grad(W, W_star), auto, rtol=0, atol=1e-10)


def test_grad_and_loss_equal_pairwise_sums(generator):
    W = torch.randn(2, 4, 5, generator=generator, dtype=DT)
    W_star = torch.randn(2, 3, 5, generator=generator, dtype=DT)
    ref = (P.F(W[..., :, None, :], W[..., None, :, :]).sum(-2)
           - P.F(W[..., :, None, :], W_star[..., None, :, :]).sum(-2))
    torch.testing.assert_close(P.grad(W, W_star), ref, rtol=0, atol=1e-13)

    def ksum(a, b):
        return P.k(a[..., :, None, :], b[..., None, :, :]).sum((-2, -1))

    ref_j = 0.5 * (ksum(W, W) - 2 * ksum(W, W_star) + ksum(W_star, W_star))
    torch.testing.assert_close(P.loss(W, W_star), ref_j, rtol=0, atol=1e-13)


def test_grad_at_coincident_students_and_teacher(generator):
    W_star = torch.randn(3, 4, generator=generator, dtype=DT)
    W = torch.randn(4, 4, generator=generator, dtype=DT)
    W[1] = W[0]  # two equal students
    W[2] = 1.7 * W_star[1]  # a student parallel to a teacher
    Wg = W.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(P.loss(Wg, W_star), Wg)
    torch.testing.assert_close(P.grad(W, W_star), auto, rtol=0, atol=1e-10)
    assert float(P.loss(W_star, W_star)) == pytest.approx(0, abs=1e-14)
    assert P.grad(W_star, W_star).abs().max() < 1e-14


def test_hessian_matches_finite_differences_of_grad(generator):
    """Autograd Hessian of J vs central differences of the closed-form gradient (step 1e-5:
    truncation ~h²·|∂³J| ≈ 1e-10, round-off ~eps/h ≈ 1e-11), at a generic point."""
    K, d = 3, 3
    W = torch.randn(K * d, generator=generator, dtype=DT)
    W_star = torch.randn(2, d, generator=generator, dtype=DT)
    H = torch.autograd.functional.hessian(lambda w: P.loss(w.view(K, d), W_star), W)
    h = 1e-5
    cols = [(P.grad((W + h * e).view(K, d), W_star) - P.grad((W - h * e).view(K, d), W_star))
            .flatten() / (2 * h) for e in torch.eye(K * d, dtype=DT)]
    torch.testing.assert_close(H, torch.stack(cols, 1), rtol=0, atol=1e-7)


def _orthogonal(d: int, g: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DT))
    return q * torch.sign(torch.diagonal(r))


def test_rotation_and_permutation_invariance(generator):
    W = torch.randn(5, 6, generator=generator, dtype=DT)
    W_star = torch.randn(4, 6, generator=generator, dtype=DT)
    Q = _orthogonal(6, generator)
    # x -> Qx: J(WQ, W*Q) = J(W, W*), ∂J/∂W transforms like W
    torch.testing.assert_close(P.loss(W @ Q, W_star @ Q), P.loss(W, W_star), rtol=1e-13, atol=0)
    torch.testing.assert_close(P.grad(W @ Q, W_star @ Q), P.grad(W, W_star) @ Q, atol=1e-13,
                               rtol=0)
    perm, perm_star = torch.randperm(5, generator=generator), torch.randperm(4, generator=generator)
    torch.testing.assert_close(P.loss(W[perm], W_star[perm_star]), P.loss(W, W_star),
                               rtol=1e-13, atol=0)
    torch.testing.assert_close(P.grad(W[perm], W_star[perm_star]), P.grad(W, W_star)[perm],
                               rtol=0, atol=1e-13)


def test_follows_dtype_and_batched_equals_loop(generator):
    W = torch.randn(3, 4, 5, generator=generator)
    W_star = torch.randn(2, 5, generator=generator)
    assert P.grad(W, W_star).dtype == torch.float32 and P.loss(W, W_star).dtype == torch.float32
    W, W_star = W.to(DT), W_star.to(DT)
    batched = P.grad(W, W_star)
    for s in range(3):
        torch.testing.assert_close(batched[s], P.grad(W[s], W_star), rtol=0, atol=1e-14)


def test_flow_integrators_agree_and_loss_decreases(generator):
    W0 = torch.randn(4, 3, 5, generator=generator, dtype=DT)  # 4 initial conditions
    W_star = torch.randn(4, 2, 5, generator=generator, dtype=DT)
    times = torch.linspace(0, 5, 6, dtype=DT)
    rk45 = P.flow(W0, W_star, times, rtol=1e-10, atol=1e-12)
    rk4 = P.flow(W0, W_star, times, method="rk4", step=0.02)
    torch.testing.assert_close(rk45.weights, rk4.weights, rtol=0, atol=1e-8)
    assert rk45.weights.shape == (6, 4, 3, 5) and rk45.angles.shape == (6, 4, 3, 2)
    assert (rk45.loss[1:] <= rk45.loss[:-1] + 1e-12).all()  # a gradient flow never climbs
    torch.testing.assert_close(rk45.loss, P.loss(rk45.weights, W_star))


def test_descend_is_gradient_descent(generator):
    W = torch.randn(2, 3, 4, generator=generator, dtype=DT)
    W_star = torch.randn(2, 4, generator=generator, dtype=DT)
    traj = P.descend(W, W_star, lr=0.05, n_steps=20, record_every=5)
    ref = W.clone()
    for _ in range(20):
        ref = ref - 0.05 * P.grad(ref, W_star)
    torch.testing.assert_close(traj.weights[-1], ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(traj.times, torch.tensor([0, 0.25, 0.5, 0.75, 1.0], dtype=DT))
    with pytest.raises(ValueError):
        P.flow(W, W_star, torch.tensor([0.0, 0.013], dtype=DT), method="euler", step=0.01)
