"""Tian 2017 §5: the symmetric two-layer ReLU net and its 2-D reduced dynamics.

Teacher ``W* = I_K`` (d = K); students ``w_j = x e_j + y Σ_{k≠j} e_k``, i.e.
``W(x, y) = x I + y (11ᵀ − I)``. By the permutation symmetry the population gradient keeps this
form, so the flow reduces to a 2-D ODE in (x, y). We derive that field numerically from
:func:`relulab.theory.population.grad` (and check the family is invariant) instead of
transcribing the paper's closed form; the paper's diagonal saddle (all students equal) is
``x⁺ = ((π − t) + √K sin t)/(πK)``, ``t = arccos(1/√K)`` (docs/theory.md).

Critical points are found by damped Newton from a grid of starts (batched), deduplicated, and
classified by the eigenvalues of both the 2-D Hessian of ``J(x, y)`` and the full K·K Hessian of
``J(W)`` (autograd, float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from relulab.config import ConfigError
from relulab.theory.population import grad, loss

START_SPAN = 1.5  # Newton starts lie on [-START_SPAN, START_SPAN]²
START_GRID = 41  # Newton starts per axis


def symmetric_weights(x: Tensor, y: Tensor, K: int) -> Tensor:
    """``W(x, y) = x I + y (11ᵀ − I)``: ``x, y (...)`` -> ``(..., K, K)``."""
    eye = torch.eye(K, dtype=x.dtype, device=x.device)
    return x[..., None, None] * eye + y[..., None, None] * (1 - eye)


def teacher(K: int, *, dtype: torch.dtype = torch.float64,
            device: torch.device | str = "cpu") -> Tensor:
    """``W* = I_K`` ``(K, K)``."""
    return torch.eye(K, dtype=dtype, device=device)


def project(dW: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split ``dW (..., K, K)`` into the family's coordinates (mean diagonal, mean off-diagonal)
    and the residual's max-abs (0 up to round-off when the family is invariant)."""
    K = dW.shape[-1]
    eye = torch.eye(K, dtype=dW.dtype, device=dW.device)
    a = (dW * eye).sum((-2, -1)) / K
    b = (dW * (1 - eye)).sum((-2, -1)) / max(K * (K - 1), 1)
    residual = dW - symmetric_weights(a, b, K)
    return a, b, residual.abs().flatten(-2).amax(-1)


def reduced_field(x: Tensor, y: Tensor, K: int) -> tuple[Tensor, Tensor]:
    """(ẋ, ẏ) of the gradient flow Ẇ = −∂J/∂W restricted to the symmetric family, from the full
    population gradient at ``W(x, y)``. ``x, y (...)`` -> two ``(...)``."""
    a, b, _ = project(-grad(symmetric_weights(x, y, K), teacher(K, dtype=x.dtype,
                                                                  device=x.device)))
    return a, b


def reduced_loss(x: Tensor, y: Tensor, K: int) -> Tensor:
    """``J(W(x, y))`` with ``W* = I_K``: ``x, y (...)`` -> ``(...)``."""
    return loss(symmetric_weights(x, y, K), teacher(K, dtype=x.dtype, device=x.device))


def diagonal_saddle_x(K: int) -> float:
    """The paper's x⁺ = ((π − t) + √K sin t)/(πK), t = arccos(1/√K) (Tian 2017 §5.2)."""
    t = math.acos(1 / math.sqrt(K))
    return ((math.pi - t) + math.sqrt(K) * math.sin(t)) / (math.pi * K)


@dataclass(frozen=True)
class CriticalPoint:
    K: int  # number of students = teachers = input dim
    x: float  # diagonal entry of W
    y: float  # off-diagonal entry of W
    loss: float  # J at the point
    residual: float  # |(ẋ, ẏ)| at the point
    reduced_signature: tuple[int, int, int]  # (#neg, #zero, #pos) eigenvalues, 2-D Hessian
    full_signature: tuple[int, int, int]  # same for the full K·K Hessian of J(W)
    min_eigenvalue: float  # smallest eigenvalue of the full Hessian
    eigenvalues: tuple[float, ...]  # full Hessian spectrum, ascending

    @property
    def kind(self) -> str:
        """minimum / saddle / maximum / degenerate, from the full-space signature."""
        return signature_kind(self.full_signature)

    @property
    def reduced_kind(self) -> str:
        """The same from the 2-D (reduced) signature."""
        return signature_kind(self.reduced_signature)


def signature_kind(signature: tuple[int, int, int]) -> str:
    """Kind of a critical point from its Hessian signature ``(#neg, #zero, #pos)``."""
    neg, zero, pos = signature
    if zero:
        return "degenerate" if neg == 0 else "saddle"
    return "minimum" if neg == 0 else ("maximum" if pos == 0 else "saddle")


def _field2(z: Tensor, K: int) -> Tensor:
    a, b = reduced_field(z[..., 0], z[..., 1], K)
    return torch.stack([a, b], -1)


def _newton(z: Tensor, K: int, *, iters: int, tol: float) -> tuple[Tensor, Tensor]:
    """Damped Newton on (ẋ, ẏ) = 0 for all starts ``z (B, 2)`` at once; Jacobian by central
    differences (the field is C¹, also across the diagonal where students coincide).
    Backtracking halves the step until |f| decreases; a start whose step cannot decrease |f|
    (a non-root minimum of |f|) or that runs off to |z| > 1e3 is dropped."""
    z = z.clone()
    eye2 = torch.eye(2, dtype=z.dtype, device=z.device)
    fn = _field2(z, K).norm(dim=-1)
    alive = torch.ones_like(fn, dtype=torch.bool)
    for _ in range(iters):
        rows = (alive & (fn >= tol)).nonzero().flatten()
        if rows.numel() == 0:
            break
        za = z[rows]
        f = _field2(za, K)
        h = 1e-6 * (1 + za.abs())
        cols = [(_field2(za + h[:, i:i + 1] * eye2[i], K)
                 - _field2(za - h[:, i:i + 1] * eye2[i], K)) / (2 * h[:, i:i + 1])
                for i in range(2)]
        step, info = torch.linalg.solve_ex(torch.stack(cols, -1), -f)
        step = torch.where((info == 0)[:, None] & torch.isfinite(step), step, f)
        todo = torch.arange(rows.numel(), device=z.device)
        for alpha in (2.0 ** -i for i in range(12)):
            cand = za[todo] + alpha * step[todo]
            cn = _field2(cand, K).norm(dim=-1)
            ok = cn < fn[rows[todo]] * (1 - 1e-4 * alpha)
            z[rows[todo[ok]]], fn[rows[todo[ok]]] = cand[ok], cn[ok]
            todo = todo[~ok]
            if todo.numel() == 0:
                break
        alive[rows[todo]] = False
        alive &= z.abs().amax(-1) < 1e3
    return z, fn


def _signature(eig: Tensor, rel: float) -> tuple[int, int, int]:
    tol = rel * max(1.0, float(eig.abs().max()))
    return (int((eig < -tol).sum()), int((eig.abs() <= tol).sum()), int((eig > tol).sum()))


def classify(x: float, y: float, K: int, *, zero_tol: float = 1e-8,
             dtype: torch.dtype = torch.float64) -> CriticalPoint:
    """Classify the point ``(x, y)`` by the 2-D Hessian of J(x, y) and the full K·K Hessian of
    J(W) at ``W(x, y)`` (torch.autograd.functional.hessian). Eigenvalues with
    ``|λ| ≤ zero_tol·max(1, max|λ|)`` count as zero."""
    xy = torch.tensor([x, y], dtype=dtype)
    star = teacher(K, dtype=dtype)
    h2 = torch.autograd.functional.hessian(lambda v: reduced_loss(v[0], v[1], K), xy,
                                         vectorize=True)
    w0 = symmetric_weights(xy[0], xy[1], K).reshape(-1)
    hk = torch.autograd.functional.hessian(lambda w: loss(w.view(K, K), star), w0,
                                         vectorize=True)
    eig = torch.linalg.eigvalsh(hk)
    a, b = reduced_field(xy[0], xy[1], K)
    return CriticalPoint(
        K=K, x=x, y=y, loss=float(reduced_loss(xy[0], xy[1], K)),
        residual=float(torch.hypot(a, b)),
        reduced_signature=_signature(torch.linalg.eigvalsh(h2), zero_tol),
        full_signature=_signature(eig, zero_tol), min_eigenvalue=float(eig[0]),
        eigenvalues=tuple(eig.tolist()))


def critical_points(K: int, *, span: float = START_SPAN, grid: int = START_GRID,
                    iters: int = 80, tol: float = 1e-11, merge: float = 1e-6,
                    dtype: torch.dtype = torch.float64) -> list[CriticalPoint]:
    """All critical points of the 2-D reduced dynamics that damped Newton reaches from a
    ``grid × grid`` lattice of starts on ``[-span, span]²``, sorted by J.

    The origin (all students zero) is excluded: J is not differentiable there. Points closer than
    ``merge`` are merged. Each is classified by :func:`classify`.
    """
    if K < 2:
        raise ConfigError(f"K must be >= 2, got {K}")
    if grid < 2 or span <= 0:
        raise ConfigError("grid must be >= 2 and span > 0")
    lin = torch.linspace(-span, span, grid, dtype=dtype)
    z0 = torch.cartesian_prod(lin, lin)
    z0 = z0 + 1e-3 * torch.tensor([0.37, -0.21], dtype=dtype)  # avoid the exact origin start
    z, res = _newton(z0, K, iters=iters, tol=tol)
    keep = (res < tol * 10) & (z.norm(dim=-1) > 1e-6) & (z.abs().amax(-1) < 10 * span)
    found: list[tuple[float, float]] = []
    for x, y in sorted(z[keep].tolist()):
        if all(math.hypot(x - a, y - b) > merge for a, b in found):
            found.append((x, y))
    points = [classify(x, y, K, dtype=dtype) for x, y in found]
    return sorted(points, key=lambda p: p.loss)


def phase_grid(K: int, *, span: float = START_SPAN, n: int = 60,
               dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(X, Y, U, V) ``(n, n)`` grids of the reduced field for a phase portrait."""
    lin = torch.linspace(-span, span, n, dtype=dtype)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    u, v = reduced_field(gx, gy, K)
    return gx, gy, u, v
