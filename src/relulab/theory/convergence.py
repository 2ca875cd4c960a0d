"""Tian 2017 experiments on the population gradient: single-ReLU convergence and spontaneous
symmetry breaking (PAPERS.md §1). Many initial conditions run as one batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import stats
from torch import Tensor

from relulab.config import ConfigError
from relulab.theory.population import flow, grad, loss
from relulab.theory.symmetric import symmetric_weights


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % for z = 1.96)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)  # exact ends, no round-off
    return (lo, hi)


def basin_probability(d: int, std: float) -> float:
    """P(w0 ∈ Ω) for w0 ~ N(0, std² I_d), Ω = {|w − w*| < |w*|}, |w*| = 1: the region Tian 2017
    proves converges for K = 1. |w0 − w*|²/std² is non-central χ²_d(λ = 1/std²)."""
    lam = 1.0 / std**2
    return float(stats.ncx2.cdf(lam, d, lam))


def paper_bound(d: int, std: float) -> float:
    """(1 − ε)/2 with ε = r·c_d, r = std·√d the typical init radius and
    c_d = Γ(d/2)/(√π Γ((d−1)/2)) the peak density of cos∠(w0, w*) — our derivation of the
    bound's form: for |w0| = r, w0 ∈ Ω ⇔ cos∠ > r/2, and P(0 < cos∠ < r/2) ≤ c_d·r/2.
    The paper states ε = O(std·√d·√d); clamped at 0."""
    c_d = math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) / math.sqrt(math.pi)
    return max(0.0, (1 - std * math.sqrt(d) * c_d) / 2)


@dataclass(frozen=True)
class ConvergenceRow:
    d: int  # input dimension
    std: float  # init std of each weight entry
    n: int  # initial conditions
    converged: float  # fraction with |w(T) − w*| < tol
    ci_low: float  # Wilson 95 % interval of that fraction
    ci_high: float
    basin: float  # P(w0 ∈ Ω), exact
    bound: float  # (1 − ε)/2, see paper_bound
    final_loss_max: float  # worst J(T) over the batch


def single_relu_convergence(dims: list[int], stds: list[float], *, n_inits: int,
                            generator: torch.Generator, t_max: float = 80.0, tol: float = 1e-4,
                            device: torch.device | str | None = None,
                            dtype: torch.dtype = torch.float64) -> list[ConvergenceRow]:
    """Fraction of random inits w0 ~ N(0, std²I_d) from which the gradient flow of the K = 1
    population loss reaches w* = e_1 (any unit w* is equivalent by rotation invariance).

    One batch of ``len(stds)·n_inits`` flows per ``d`` (Dormand–Prince to ``t_max``; near w* the
    Hessian is I/2, so the error decays like e^{−t/2})."""
    if n_inits < 1 or not dims or not stds:
        raise ConfigError("need at least one d, one std and n_inits >= 1")
    for d in dims:
        if d < 2:
            raise ConfigError(f"d must be >= 2, got {d}")
    for s in stds:
        if not s > 0:
            raise ConfigError(f"init std must be > 0, got {s}")
    device = device if device is not None else generator.device
    rows: list[ConvergenceRow] = []
    for d in dims:
        w_star = torch.zeros(1, d, dtype=dtype, device=device)
        w_star[0, 0] = 1.0
        z = torch.randn(len(stds), n_inits, 1, d, generator=generator, dtype=dtype,
                        device=generator.device).to(device)
        scale = torch.tensor(stds, dtype=dtype, device=device)[:, None, None, None]
        traj = flow(z * scale, w_star, torch.tensor([0.0, t_max], dtype=dtype, device=device),
                    rtol=1e-6, atol=1e-9)  # ample for the 1e-4 success test
        err = (traj.weights[-1] - w_star).norm(dim=-1)[..., 0]  # (n_std, n_inits)
        ok = err < tol
        for i, s in enumerate(stds):
            hits = int(ok[i].sum())
            lo, hi = wilson_interval(hits, n_inits)
            rows.append(ConvergenceRow(d, s, n_inits, hits / n_inits, lo, hi,
                                       basin_probability(d, s), paper_bound(d, s),
                                       float(traj.loss[-1, i].max())))
    return rows


@dataclass(frozen=True)
class SymmetryBreaking:
    K: int  # students = teachers = input dim, W* = I_K
    n: int  # trials
    converged: Tensor  # (n,) bool: reached a permutation of W* within tol
    steps: Tensor  # (n,) first checked step at which it had (max_steps if never)
    permutations: Tensor  # (n, K) teacher index matched by each student at the end
    final_loss: Tensor  # (n,)
    start_spread: float  # max |w_j − w_j'| at the start (the symmetry-breaking noise)

    @property
    def distinct_permutations(self) -> int:
        return int(torch.unique(self.permutations[self.converged], dim=0).shape[0])


def symmetry_breaking(K: int, *, n_trials: int, generator: torch.Generator,
                      x0: float = 1e-3, y0: float = 1e-3, noise: float = 1e-6,
                      lr: float = 0.1, max_steps: int = 20_000, check_every: int = 10,
                      tol: float = 1e-4, device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float64) -> SymmetryBreaking:
    """Gradient descent on the population loss with W* = I_K from the symmetric point
    W(x0, y0) (x0 = y0: all students equal) plus ``noise``·N(0, 1) per entry
    (Tian 2017 §5.3, SSB). A trial has converged when every student is within ``tol`` of a
    distinct teacher; stops early once all trials have."""
    if K < 2 or n_trials < 1 or lr <= 0 or max_steps < 1 or check_every < 1:
        raise ConfigError("need K >= 2, n_trials >= 1, lr > 0, max_steps >= 1")
    device = device if device is not None else generator.device
    star = torch.eye(K, dtype=dtype, device=device)
    base = symmetric_weights(torch.tensor(x0, dtype=dtype), torch.tensor(y0, dtype=dtype), K)
    eps = torch.randn(n_trials, K, K, generator=generator, dtype=dtype, device=generator.device)
    W = (base + noise * eps).to(device)
    spread = float((W[:, :, None] - W[:, None, :]).norm(dim=-1).amax())
    steps = torch.full((n_trials,), max_steps, dtype=torch.int64, device=device)
    done = torch.zeros(n_trials, dtype=torch.bool, device=device)
    arange = torch.arange(K, device=device)

    def status(w: Tensor) -> tuple[Tensor, Tensor]:
        dist = (w[:, :, None] - star[None, None]).norm(dim=-1)  # (n, K, K)
        best = dist.argmin(-1)  # (n, K)
        err = dist.gather(-1, best[..., None])[..., 0].amax(-1)
        perm = (torch.sort(best, -1).values == arange).all(-1)
        return perm & (err < tol), best

    for step in range(1, max_steps + 1):
        W = W - lr * grad(W, star)
        if step % check_every == 0 or step == max_steps:
            ok, _ = status(W)
            new = ok & ~done
            steps[new] = step
            done |= ok
            if bool(done.all()):
                break
    ok, best = status(W)
    return SymmetryBreaking(K, n_trials, ok, steps, best, loss(W, star), spread)
