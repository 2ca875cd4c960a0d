"""Tian 2017 experiments on the population gradient: single-ReLU convergence and spontaneous
symmetry breaking (docs/theory.md). Many initial conditions run as one batch.

The module constants are the defaults of ``relulab theory converge`` and ``relulab theory ssb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy import stats
from torch import Tensor

from relulab.config import ConfigError
from relulab.theory.population import flow, grad, loss
from relulab.theory.single_relu import basin_probability, paper_bound
from relulab.theory.symmetric import symmetric_weights

TOL = 1e-4  # a run has converged when every student is within TOL of its teacher
CONVERGE_STREAM = "theory-converge"  # rng stream of the single-ReLU inits
DIMS = (5, 20, 100)  # input dimensions d of the single-ReLU table
STDS = (0.01, 0.1, 1.0)  # init std of each weight entry
N_INITS = 1000  # initial conditions per (d, std)
T_MAX = 80.0  # flow time: near w* the error decays like e^{−t/2}

SSB_STREAM = "theory-ssb"  # rng stream of the symmetry-breaking noise
SSB_K = 5  # students = teachers = input dim, W* = I_K
SSB_TRIALS = 64  # noisy symmetric starts
SSB_NOISE = 1e-6  # std of the symmetry-breaking noise per weight entry
SSB_X0 = 1e-3  # start: diagonal entry of W
SSB_Y0 = 1e-3  # start: off-diagonal entry (= SSB_X0: all students equal)
SSB_LR = 0.1  # gradient-descent step
SSB_MAX_STEPS = 20_000  # step budget
SSB_CHECK_EVERY = 10  # steps between convergence checks


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95 % interval for a binomial proportion (scipy's ``binomtest``); (0, 1)
    when there are no trials."""
    if n == 0:
        return (0.0, 1.0)
    ci = stats.binomtest(successes, n).proportion_ci(method="wilson")
    return (float(ci.low), float(ci.high))


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


def _check_convergence_args(dims: list[int], stds: list[float], n_inits: int) -> None:
    if n_inits < 1 or not dims or not stds:
        raise ConfigError("need at least one d, one std and n_inits >= 1")
    for d in dims:
        if d < 2:
            raise ConfigError(f"d must be >= 2, got {d}")
    for s in stds:
        if not s > 0:
            raise ConfigError(f"init std must be > 0, got {s}")


def single_relu_convergence(dims: list[int], stds: list[float], *, n_inits: int,
                            generator: torch.Generator, t_max: float = T_MAX, tol: float = TOL,
                            device: torch.device | str | None = None,
                            dtype: torch.dtype = torch.float64) -> list[ConvergenceRow]:
    """Fraction of random inits w0 ~ N(0, std²I_d) from which the gradient flow of the K = 1
    population loss reaches w* = e_1 (any unit w* is equivalent by rotation invariance).

    One batch of ``len(stds)·n_inits`` flows per ``d`` (Dormand–Prince to ``t_max``; near w* the
    Hessian is I/2, so the error decays like e^{−t/2})."""
    _check_convergence_args(dims, stds, n_inits)
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

    def converged_steps(self) -> tuple[float, int, int] | None:
        """(median, min, max) steps over the converged trials; None when none converged."""
        steps = self.steps[self.converged].to(torch.float64)
        if not steps.numel():
            return None
        return float(steps.median()), int(steps.min()), int(steps.max())


def _permutation_status(w: Tensor, star: Tensor, tol: float) -> tuple[Tensor, Tensor]:
    """Per trial: every student within ``tol`` of a distinct teacher ``(n,)``, and the nearest
    teacher of each student ``(n, K)``."""
    dist = (w[:, :, None] - star[None, None]).norm(dim=-1)  # (n, K, K)
    best = dist.argmin(-1)  # (n, K)
    err = dist.gather(-1, best[..., None])[..., 0].amax(-1)
    arange = torch.arange(w.shape[-2], device=w.device)
    perm = (torch.sort(best, -1).values == arange).all(-1)
    return perm & (err < tol), best


def symmetry_breaking(K: int, *, n_trials: int, generator: torch.Generator,
                      x0: float = SSB_X0, y0: float = SSB_Y0, noise: float = SSB_NOISE,
                      lr: float = SSB_LR, max_steps: int = SSB_MAX_STEPS,
                      check_every: int = SSB_CHECK_EVERY, tol: float = TOL,
                      device: torch.device | str | None = None,
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
    for step in range(1, max_steps + 1):
        W = W - lr * grad(W, star)
        if step % check_every == 0 or step == max_steps:
            ok, _ = _permutation_status(W, star, tol)
            steps[ok & ~done] = step
            done |= ok
            if bool(done.all()):
                break
    ok, best = _permutation_status(W, star, tol)
    return SymmetryBreaking(K, n_trials, ok, steps, best, loss(W, star), spread)
