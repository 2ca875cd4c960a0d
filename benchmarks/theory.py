"""Speed of the population gradient (relulab.theory.population.grad).

1. grad for K = M = d = 1000 (float64) against torch.mm in the same run. grad is two matmuls of
   (K × d)·(d × (K+M)) and (K × (K+M))·((K+M) × d), i.e. 4·K·(K+M)·d FLOPs, plus O(K(K+M))
   elementwise work (angles, square roots); the target is ≥ 0.5 of torch.mm's FLOP/s.
2. grad against a per-node Python loop (the original's structure: one student row at a time,
   vectorized only over the other nodes). The loop is timed on ``--loop-rows`` rows and scaled
   to K; both results are checked to agree.

Usage: python benchmarks/theory.py [--n 1000] [--device cpu] [--repeats 5] [--loop-rows 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on

from relulab.theory.population import F, grad


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(fns, device: torch.device, repeats: int) -> list[float]:
    """Median wall time of each of ``fns``, run in turn for ``repeats`` rounds (after a warm-up
    round), so load changes on a shared machine affect all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for rnd in range(repeats + 1):
        for i, fn in enumerate(fns):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            if rnd:
                times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def per_node_loop(W: torch.Tensor, W_star: torch.Tensor, rows: int) -> torch.Tensor:  # noqa: N803
    """∂J/∂w_j = Σ_j' F(w_j, w_j') − Σ_k F(w_j, w*_k), one Python iteration per student j."""
    out = []
    for j in range(rows):
        w = W[j]
        out.append(F(w, W).sum(0) - F(w, W_star).sum(0))
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="K = M = d")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--loop-rows", type=int, default=100)
    args = parser.parse_args()
    device = torch.device(args.device)
    n = args.n
    g = torch.Generator(device=device).manual_seed(0)
    W = torch.randn(n, n, generator=g, dtype=torch.float64, device=device)  # noqa: N806
    W_star = torch.randn(n, n, generator=g, dtype=torch.float64, device=device)  # noqa: N806
    A = torch.randn(n, n, generator=g, dtype=torch.float64, device=device)  # noqa: N806
    B = torch.randn(n, n, generator=g, dtype=torch.float64, device=device)  # noqa: N806

    # interleaved, so a busy machine slows both alike; medians over the rounds
    t_mm, t_grad = interleaved([lambda: torch.mm(A, B), lambda: grad(W, W_star)], device,
                               args.repeats)
    mm_flops = 2 * n**3 / t_mm
    grad_flops = 4 * n * (2 * n) * n / t_grad
    ratio = grad_flops / mm_flops
    print(f"device {device}, float64, K = M = d = {n}, threads {torch.get_num_threads()}")
    print(f"torch.mm   {t_mm * 1e3:9.1f} ms  {mm_flops / 1e9:7.2f} GFLOP/s")
    print(f"grad       {t_grad * 1e3:9.1f} ms  {grad_flops / 1e9:7.2f} GFLOP/s "
          f"(counting 4·K·(K+M)·d matmul FLOPs)")
    verdict = "met" if ratio >= 0.5 else "MISSED"
    print(f"ratio grad/mm FLOP/s = {ratio:.2f}  (target >= 0.5: {verdict})")

    rows = min(args.loop_rows, n)
    reference = grad(W, W_star)
    t_loop_part = timed(lambda: per_node_loop(W, W_star, rows), device, max(1, args.repeats // 2))
    err = float((per_node_loop(W, W_star, rows) - reference[:rows]).abs().max())
    t_loop = t_loop_part * n / rows
    print(f"per-node loop {t_loop:9.2f} s  (timed on {rows} rows, scaled to {n}; "
          f"max |diff| vs grad {err:.1e})")
    print(f"speed-up of grad over the per-node loop = {t_loop / t_grad:.1f}x")


if __name__ == "__main__":
    main()
