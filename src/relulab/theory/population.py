"""Tian 2017 (arXiv 1703.00560): the analytical population gradient of a two-layer ReLU net.

Network ``g(x; W) = Σ_j σ(w_jᵀx)``, ``x ~ N(0, I_d)``, teacher rows ``w*_k`` (docs/theory.md).
Shapes: students ``W (..., K, d)``, teachers ``W_star (..., M, d)`` (``K ≠ M`` allowed), leading
axes broadcast. Everything follows the inputs' device and dtype (use float64 for theory).

Closed forms (Tian 2017, eq. 3–4 / Lemma 1), θ = ∠(w, v):

.. math::
    k(w, v) = E[σ(wᵀx) σ(vᵀx)] = |w||v| (sin θ + (π − θ) cos θ) / (2π)
    F(w, v) = E[x 1(wᵀx > 0) σ(vᵀx)] = ((π − θ) v + |v| sin θ ŵ) / (2π)
    J(W) = ½ [Σ_{jj'} k(w_j, w_j') − 2 Σ_{jk} k(w_j, w*_k) + Σ_{kk'} k(w*_k, w*_k')]
    ∂J/∂w_j = Σ_{j'} F(w_j, w_j') − Σ_k F(w_j, w*_k)

Conventions: a zero row has angle π/2 to everything, ``k(0, v) = 0`` and ``F(0, v) = 0``
(its gate ``1(0ᵀx > 0)`` is off almost surely); nothing returns NaN.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from relulab.theory import ode

TWO_PI = 2.0 * math.pi
# sin²θ below this many ulps counts as exactly parallel: A = |w|²|v|² − (wᵀv)² is only known
# to ~eps·|w|²|v|², and k, F are flat (O(θ³), O(θ²)) there, so zeroing it costs < 1e-14.
_PARALLEL_ULPS = 64.0


def _unit(w: Tensor) -> tuple[Tensor, Tensor]:
    """``(ŵ, |w|)`` with ŵ = 0 for a zero vector. ``w (..., d)`` -> ``(..., d), (...)``."""
    norm = torch.linalg.vector_norm(w, dim=-1)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return torch.where((norm > 0)[..., None], w / safe[..., None], torch.zeros_like(w)), norm


def angle(w: Tensor, v: Tensor) -> Tensor:
    """θ(w, v) = 2·atan2(|ŵ − v̂|, |ŵ + v̂|) ∈ [0, π], accurate near 0 and π (where arccos of a
    dot product loses half the digits). ``w, v (..., d)`` broadcast -> ``(...)``."""
    w_hat, _ = _unit(w)
    v_hat, _ = _unit(v)
    return 2.0 * torch.atan2(torch.linalg.vector_norm(w_hat - v_hat, dim=-1),
                             torch.linalg.vector_norm(w_hat + v_hat, dim=-1))


def k(w: Tensor, v: Tensor) -> Tensor:
    """``k(w, v) = E[σ(wᵀx)σ(vᵀx)] = |w||v|(sin θ + (π − θ)cos θ)/(2π)`` (Tian 2017, eq. 3).
    ``w, v (..., d)`` broadcast -> ``(...)``."""
    theta = angle(w, v)
    scale = torch.linalg.vector_norm(w, dim=-1) * torch.linalg.vector_norm(v, dim=-1)
    return scale * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) / TWO_PI


def F(w: Tensor, v: Tensor) -> Tensor:
    """``F(w, v) = E[x 1(wᵀx > 0) σ(vᵀx)] = ((π − θ)v + |v| sin θ ŵ)/(2π)`` (Tian 2017, eq. 4);
    ``F(w, w) = w/2``, ``F(0, v) = 0``. ``w, v (..., d)`` broadcast -> ``(..., d)``."""
    w, v = torch.broadcast_tensors(w, v)
    theta = angle(w, v)[..., None]
    w_hat, w_norm = _unit(w)
    v_norm = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    out = ((math.pi - theta) * v + v_norm * torch.sin(theta) * w_hat) / TWO_PI
    return torch.where((w_norm > 0)[..., None], out, torch.zeros_like(out))


# ---------------------------------------------------------------------------------------------
# Gram-matrix forms: all pairwise terms from one matmul, smooth enough for autograd Hessians.

class _Pairwise(NamedTuple):
    dot: Tensor  # (..., K, M) wᵀv
    area: Tensor  # (..., K, M) |w||v| sin θ
    theta: Tensor  # (..., K, M)
    nonzero: Tensor  # (..., K, M) bool, both rows nonzero


def _pairwise(dot: Tensor, sq_a: Tensor, sq_b: Tensor) -> _Pairwise:
    """Pairwise terms from the Gram block ``dot (..., K, M)`` and squared row norms
    ``sq_a (..., K)``, ``sq_b (..., M)``.

    θ = atan2(|w||v| sin θ, wᵀv) with |w||v| sin θ = sqrt(|w|²|v|² − (wᵀv)²). Near θ = 0 or π the
    square root has an absolute error ~1e-8·|w||v|, harmless because k and F are flat there
    (k = wᵀv/2 + O(θ³), F = F|θ=0 + O(θ²)). Both ``where`` guards keep autograd finite (and its
    second derivatives right) at coincident and zero rows."""
    prod = sq_a[..., :, None] * sq_b[..., None, :]  # |w|²|v|²
    det = prod - dot * dot
    sharp = det > _PARALLEL_ULPS * torch.finfo(dot.dtype).eps * prod
    area = torch.where(sharp, torch.sqrt(torch.where(sharp, det, torch.ones_like(det))),
                       torch.zeros_like(det))
    nonzero = prod > 0
    theta = torch.atan2(area, torch.where(nonzero, dot, torch.ones_like(dot)))
    return _Pairwise(dot, area, theta, nonzero)


def _kernel_sum(p: _Pairwise) -> Tensor:
    """Σ over the last two axes of k = wᵀv/2 + (|w||v| sin θ − θ wᵀv)/(2π) -> ``(...)``.

    This split of ``|w||v|(sin θ + (π − θ)cos θ)/(2π)`` isolates the O(θ³) part, whose gradient and
    Hessian vanish at θ = 0 — what lets autograd differentiate through coincident students."""
    vals = p.dot / 2 + (p.area - p.theta * p.dot) / TWO_PI
    return torch.where(p.nonzero, vals, torch.zeros_like(vals)).sum(dim=(-2, -1))


def loss(W: Tensor, W_star: Tensor) -> Tensor:
    """Population loss J(W) = ½ E_x[(g(x; W) − g(x; W*))²] (Tian 2017, eq. 2 with eq. 3).

    ``W (..., K, d)``, ``W_star (..., M, d)`` -> ``(...)``. Three Gram blocks, O((K+M)²d)."""
    sq, sq_star = (W * W).sum(-1), (W_star * W_star).sum(-1)
    ss = _kernel_sum(_pairwise(W @ W.mT, sq, sq))
    st = _kernel_sum(_pairwise(W @ W_star.mT, sq, sq_star))
    tt = _kernel_sum(_pairwise(W_star @ W_star.mT, sq_star, sq_star))
    return 0.5 * (ss - 2.0 * st + tt)


def grad(W: Tensor, W_star: Tensor) -> Tensor:
    """∂J/∂w_j = Σ_{j'} F(w_j, w_j') − Σ_k F(w_j, w*_k) (Tian 2017, Theorem 1), all rows at once.

    With V = [W; W*] and sign s = (+1 students, −1 teachers), using
    F(w, v) = ((π − θ)v + (|w||v| sin θ/|w|²) w)/(2π):

    .. math::
        2π ∂J/∂W = (s ∘ (π − Θ)) V + diag(Σ_v s |w||v| sin θ / |w|²) W

    ``W (..., K, d)``, ``W_star (..., M, d)`` -> ``(..., K, d)``. Two matmuls of K·(K+M)·d
    multiply-adds each plus ~10 elementwise passes over the K×(K+M) angle matrix (same
    parallel threshold as :func:`loss`, so it equals autograd of ``loss`` to round-off).
    """
    lead = torch.broadcast_shapes(W.shape[:-2], W_star.shape[:-2])
    W = W.expand(*lead, *W.shape[-2:])
    V = torch.cat([W, W_star.expand(*lead, *W_star.shape[-2:])], dim=-2)  # (..., K+M, d)
    n_students = W.shape[-2]
    sign = torch.ones(V.shape[-2], dtype=W.dtype, device=W.device)
    sign[n_students:] = -1.0
    sq_w = torch.linalg.vector_norm(W, dim=-1).square()  # (..., K)
    sq_v = torch.linalg.vector_norm(V, dim=-1).square()  # (..., K+M)
    dot = W @ V.mT  # (..., K, K+M)
    prod = sq_w[..., :, None] * sq_v[..., None, :]  # |w|²|v|²
    det = torch.addcmul(prod, dot, dot, value=-1.0)  # |w|²|v|² sin²θ
    det.masked_fill_(det <= prod.mul_(_PARALLEL_ULPS * torch.finfo(W.dtype).eps), 0.0)
    area = det.sqrt_()  # |w||v| sin θ
    coef = torch.atan2(area, dot).neg_().add_(math.pi).mul_(sign)  # s (π − θ)
    radial = (area @ sign) / torch.where(sq_w > 0, sq_w, torch.ones_like(sq_w))
    out = torch.addcmul(coef @ V, radial[..., None], W)
    scale = (sq_w > 0).to(W.dtype) / TWO_PI  # F(0, v) = 0: the gate of a zero row is off
    return out.mul_(scale[..., None])


def angles_to_teacher(W: Tensor, W_star: Tensor) -> Tensor:
    """θ(w_j, w*_k) for all pairs: ``W (..., K, d)``, ``W_star (..., M, d)`` -> ``(..., K, M)``."""
    return angle(W[..., :, None, :], W_star[..., None, :, :])


# ---------------------------------------------------------------------------------------------
# Gradient flow Ẇ = −∂J/∂W for many initial conditions at once.

class Trajectory(NamedTuple):
    """A recorded gradient flow / descent, T records of B... initial conditions."""

    times: Tensor  # (T,) flow time (lr × steps for descent)
    weights: Tensor  # (T, ..., K, d)
    loss: Tensor  # (T, ...) J at each record
    angles: Tensor  # (T, ..., K, M) angle of each student to each teacher
    n_steps: Tensor  # (...) integrator steps taken (accepted + rejected for adaptive)


def _record(times: Tensor, ys: Tensor, W_star: Tensor, n_steps: Tensor) -> Trajectory:
    return Trajectory(times, ys, loss(ys, W_star), angles_to_teacher(ys, W_star), n_steps)


def flow(W0: Tensor, W_star: Tensor, times: Tensor, *, method: str = "rk45",
         step: float | None = None, rtol: float = 1e-8, atol: float = 1e-10,
         max_steps: int = 100_000) -> Trajectory:
    """Integrate the gradient flow Ẇ = −∂J/∂W from every ``W0 (B..., K, d)`` (teachers
    ``W_star (B..., M, d)`` or ``(M, d)``) and record it at ``times (T,)`` (increasing, ≥ 0).

    ``method``: ``"rk45"`` (Dormand–Prince with per-trajectory step control, ``rtol``/``atol``),
    ``"rk4"`` or ``"euler"`` (fixed ``step``; the records must fall on the step grid).
    """
    lead = W0.shape[:-2]
    star = W_star.expand(*lead, *W_star.shape[-2:]).reshape(-1, *W_star.shape[-2:])

    def field(y: Tensor, rows: Tensor) -> Tensor:
        return -grad(y, star[rows])

    y0 = W0.reshape(-1, *W0.shape[-2:])
    if method == "rk45":
        ys, n = ode.dormand_prince(field, y0, times, rtol=rtol, atol=atol, max_steps=max_steps)
    else:
        if step is None:
            raise ValueError(f"method {method!r} needs a step")
        ys, n = ode.fixed_step(field, y0, times, step=step, method=method)
    ys = ys.reshape(len(times), *lead, *W0.shape[-2:])
    return _record(times, ys, W_star, n.reshape(lead))


def descend(W0: Tensor, W_star: Tensor, *, lr: float, n_steps: int,
            record_every: int = 1) -> Trajectory:
    """Gradient descent W ← W − lr·∂J/∂W on the population loss (= Euler on the flow), every
    ``W0 (B..., K, d)`` at once; records every ``record_every`` steps (times = lr × step)."""
    steps = torch.arange(0, n_steps + 1, record_every, device=W0.device)
    return flow(W0, W_star, steps.to(W0.dtype) * lr, method="euler", step=lr)
