"""Batched ODE integrators for autonomous fields ``ẏ = f(y)`` (torchdiffeq is not a dependency).

State ``y (B, ...)``: B independent initial conditions, each a tensor of the trailing shape.
``field(y_sub, rows)`` returns ``ẏ`` for the sub-batch ``rows (b,)`` (int64 indices into B), so
fields with per-trajectory data (e.g. one teacher per trajectory) index it; fields without
ignore ``rows``. Records at ``times (T,)``: ``ys (T, B, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Field = Callable[[Tensor, Tensor], Tensor]

# Dormand & Prince (1980) RK5(4)7M tableau (Hairer, Nørsett & Wanner, Table II.5.2).
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


def _bcast(h: Tensor, y: Tensor) -> Tensor:
    return h.reshape(-1, *([1] * (y.dim() - 1)))


def _grid_indices(times: Tensor, step: float) -> list[int]:
    idx = torch.round((times - times[0]) / step).to(torch.int64)
    if not torch.allclose(idx.to(times.dtype) * step + times[0], times, rtol=1e-9, atol=1e-12):
        raise ValueError("fixed-step records must lie on the step grid (times = t0 + n·step)")
    if (idx[1:] < idx[:-1]).any():
        raise ValueError("times must be increasing")
    return idx.tolist()


def fixed_step(field: Field, y0: Tensor, times: Tensor, *, step: float,
               method: str = "rk4") -> tuple[Tensor, Tensor]:
    """Explicit Euler or classic RK4 with constant ``step``. Returns ``(ys (T, B, ...),
    n_steps (B,))``. Euler with step η on a gradient field is gradient descent with lr η."""
    if method not in ("euler", "rk4"):
        raise ValueError(f"unknown fixed-step method {method!r} (euler, rk4)")
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    marks = _grid_indices(times, step)
    rows = torch.arange(y0.shape[0], device=y0.device)
    ys = torch.empty(len(times), *y0.shape, dtype=y0.dtype, device=y0.device)
    y, done = y0, 0
    for rec, n in enumerate(marks):
        while done < n:
            if method == "euler":
                y = y + step * field(y, rows)
            else:
                k1 = field(y, rows)
                k2 = field(y + 0.5 * step * k1, rows)
                k3 = field(y + 0.5 * step * k2, rows)
                k4 = field(y + step * k3, rows)
                y = y + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            done += 1
        ys[rec] = y
    return ys, torch.full((y0.shape[0],), done, dtype=torch.int64, device=y0.device)


def dormand_prince(field: Field, y0: Tensor, times: Tensor, *, rtol: float = 1e-8,
                   atol: float = 1e-10, max_steps: int = 100_000,
                   first_step: float | None = None) -> tuple[Tensor, Tensor]:
    """Adaptive Dormand–Prince RK5(4) with one step size per trajectory (error control on the
    RMS over each trajectory's state of ``err / (atol + rtol·max(|y|, |y_new|))``).

    Steps are clipped to land exactly on every record time, so no interpolation is needed.
    Only the still-running trajectories are evaluated each iteration. Returns
    ``(ys (T, B, ...), n_steps (B,))`` (attempted steps); records a trajectory did not reach
    within ``max_steps`` iterations are NaN.
    """
    b = y0.shape[0]
    dev, dt = y0.device, y0.dtype
    ys = torch.full((len(times), *y0.shape), float("nan"), dtype=dt, device=dev)
    ys[0] = y0
    times = times.to(dtype=dt, device=dev)
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    y = y0.clone()
    t = torch.full((b,), float(times[0]), dtype=dt, device=dev)
    h = torch.full((b,), first_step or max(span * 1e-3, 1e-6), dtype=dt, device=dev)
    nxt = torch.ones(b, dtype=torch.int64, device=dev)  # index of the next record
    n_steps = torch.zeros(b, dtype=torch.int64, device=dev)
    k_first = field(y, torch.arange(b, device=dev))  # FSAL: stage 1 of the next step
    for _ in range(max_steps):
        rows = (nxt < len(times)).nonzero().flatten()
        if rows.numel() == 0:
            break
        ya, ta, target = y[rows], t[rows], times[nxt[rows]]
        ha = torch.minimum(h[rows], target - ta)
        clipped = ha >= target - ta
        stages = [k_first[rows]]
        for a_row in _A[1:]:
            inc = sum(c * s for c, s in zip(a_row, stages, strict=False) if c != 0.0)
            stages.append(field(ya + _bcast(ha, ya) * inc, rows))
        y5 = ya + _bcast(ha, ya) * sum(c * s for c, s in zip(_B5, stages, strict=True) if c)
        err = _bcast(ha, ya) * sum((c5 - c4) * s for c5, c4, s in
                                   zip(_B5, _B4, stages, strict=True) if c5 != c4)
        scale = atol + rtol * torch.maximum(ya.abs(), y5.abs())
        ratio = (err / scale).pow(2).flatten(1).mean(1).sqrt()  # (b,)
        ok = torch.isfinite(ratio) & (ratio <= 1.0)
        n_steps[rows] += 1
        factor = torch.where(torch.isfinite(ratio),
                             (0.9 * ratio.clamp_min(1e-10).pow(-0.2)).clamp(0.2, 5.0),
                             torch.full_like(ratio, 0.2))
        h_new = ha * factor
        h_new = torch.where(ok & clipped, torch.maximum(h_new, h[rows]), h_new)
        h[rows] = h_new
        acc = rows[ok]
        y[acc] = y5[ok]
        t[acc] = torch.where(clipped[ok], target[ok], ta[ok] + ha[ok])
        k_first[acc] = stages[-1][ok]  # FSAL: the 7th stage is f(y5)
        landed = acc[clipped[ok]]
        ys[nxt[landed], landed] = y[landed]
        nxt[landed] += 1
    return ys, n_steps
