"""relulab against the ensemble a PyTorch user would write: the fair anchors.

The cell is the two-layer one of ``spec-two-layer``: d=100, m=10, multi=5 (n=50), c=50,
batch 16, S=32 seeds, batches drawn with replacement from a fixed per-seed training set
(N=10000), teacher targets precomputed, the ½·Σ_outputs loss, plain SGD (lr 0.01).

- relulab: :func:`relulab.training.engine.train` on the preset; ``res.loop_seconds`` (the
  training loop only: batch draw, step, per-epoch eval loss).
- eager: ``torch.func.stack_module_state`` over S copies of
  ``nn.Sequential(Linear(d, n), ReLU, Linear(n, c))``, ``vmap(grad(loss))`` with
  ``functional_call``, the stacked parameters updated in place (``torch._foreach_add_``);
  batch rows drawn per step from the same training sets and targets.
- compiled: the eager step (gradients and update) under ``torch.compile`` (inductor); when
  compiling fails the reason is printed and this anchor is skipped.

Both sides are warmed up (the compiled one compiles in its warm-up); the timed runs are
interleaved and the best of ``--repeats`` is kept. Prints seed-steps/s for each and the ratios
relulab/eager and relulab/compiled, for float32 and float64, and the rate of the step's six
batched GEMMs alone (``torch.bmm`` at its shapes): how close relulab's loop is to its GEMMs.

On a shared or oversubscribed machine pass ``--threads 1``: two spinning OpenMP threads on
busy cores run many times slower than one, and both sides suffer unequally.

Usage: python benchmarks/anchors.py [--steps 1000] [--repeats 3] [--dtypes float32,float64]
       [--threads N] [--no-compile]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from relulab import get_preset, with_overrides
from relulab.nets.networks import predict
from relulab.training.engine import train
from relulab.training.setup import build

SEEDS = 32


def config(steps: int, dtype: str):  # type: ignore[no-untyped-def]
    return with_overrides(get_preset("spec-two-layer"),
                          {"optim.epochs": 1, "optim.steps_per_epoch": steps,
                           "stats_every": 0, "data.eval_size": 256, "dtype": dtype})


def relulab_rate(steps: int, dtype: str) -> float:
    """Seed-steps/s of relulab's training loop on the cell."""
    res = train(config(steps, dtype), range(SEEDS), max_steps=steps, device="cpu")
    return SEEDS * res.steps / res.loop_seconds


def bmm_bound(dtype: str, steps: int) -> float:
    """Seed-steps/s if a step were only its six batched GEMMs (``torch.bmm`` at the step's
    shapes, S=32: forward 2, backward 4), no data, no elementwise work: the rate that a
    faster step would have to beat with a faster GEMM."""
    dt = getattr(torch, dtype)
    d, n, c, b = 100, 50, 50, 16
    shapes = [((b, d), (d, n)), ((b, n + 1), (n + 1, c)),  # forward
              ((b, c), (c, n)), ((n + 1, b), (b, c)), ((d, b), (b, n)), ((1, b), (b, n))]
    ops = [(torch.randn(SEEDS, *p, dtype=dt), torch.randn(SEEDS, *q, dtype=dt))
           for p, q in shapes]
    outs = [torch.empty(SEEDS, p[0], q[1], dtype=dt) for p, q in shapes]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(steps):
            for (a, w), o in zip(ops, outs, strict=True):
                torch.bmm(a, w, out=o)
        best = min(best, time.perf_counter() - t0)
    return SEEDS * steps / best


class Ensemble:
    """S stacked ``nn.Sequential`` students trained by ``vmap(grad(loss))`` and plain SGD,
    their training sets and teacher targets the same as relulab's."""

    def __init__(self, dtype: str, compiled: bool):
        cfg = config(10, dtype)
        self.lr, self.b = cfg.optim.lr, cfg.batch_size
        teacher, student, src = build(cfg, range(SEEDS), device="cpu")
        self.x = src.train_inputs()  # (S, N, d)
        with torch.no_grad():
            self.y = predict(teacher, self.x)  # (S, N, c)
        d, n, c = self.x.shape[2], student.widths[0], self.y.shape[2]
        mods = []
        for i in range(SEEDS):
            mod = nn.Sequential(nn.Linear(d, n), nn.ReLU(), nn.Linear(n, c)).to(self.x.dtype)
            with torch.no_grad():
                mod[0].weight.copy_(student.weights[0][i])
                mod[0].bias.copy_(student.biases[0][i])
                mod[2].weight.copy_(student.weights[1][i])
                mod[2].bias.copy_(student.biases[1][i])
            mods.append(mod)
        params, buffers = stack_module_state(mods)
        self.params = {k: v.detach() for k, v in params.items()}
        self.buffers = buffers
        base = copy.deepcopy(mods[0]).to("meta")

        def loss(p, bufs, xb, yb):  # type: ignore[no-untyped-def]
            out = functional_call(base, (p, bufs), (xb,))
            return 0.5 * (out - yb).square().sum(-1).mean()  # the ½·Σ_outputs loss

        grads = vmap(grad(loss), in_dims=(0, 0, 0, 0))
        lr = self.lr

        def step(p, bufs, xb, yb):  # type: ignore[no-untyped-def]
            g = grads(p, bufs, xb, yb)
            torch._foreach_add_(list(p.values()), [g[k] for k in p], alpha=-lr)

        self.step: Callable = torch.compile(step) if compiled else step
        self.seed_idx = torch.arange(SEEDS)[:, None]
        self.gen = torch.Generator().manual_seed(0)

    def run(self, steps: int) -> float:
        """Seed-steps/s of ``steps`` steps (rows drawn with replacement every step)."""
        n = self.x.shape[1]
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                rows = torch.randint(n, (SEEDS, self.b), generator=self.gen)
                self.step(self.params, self.buffers, self.x[self.seed_idx, rows],
                          self.y[self.seed_idx, rows])
        return SEEDS * steps / (time.perf_counter() - t0)


def compiled_ensemble(dtype: str) -> tuple[Ensemble | None, float]:
    """The compiled anchor, warmed up (compiled), and its compile-and-warm-up seconds; None
    and the reason printed when inductor fails."""
    t0 = time.perf_counter()
    try:
        ens = Ensemble(dtype, compiled=True)
        ens.run(20)
    except Exception as exc:  # noqa: BLE001  (any compile failure skips this anchor)
        print(f"  torch.compile anchor skipped ({dtype}): {type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}")
        return None, 0.0
    return ens, time.perf_counter() - t0


def measure(dtype: str, steps: int, repeats: int, compile_: bool) -> dict[str, float]:
    relulab_rate(50, dtype)  # warm-up
    eager = Ensemble(dtype, compiled=False)
    eager.run(20)
    comp, compile_s = compiled_ensemble(dtype) if compile_ else (None, 0.0)
    best: dict[str, float] = {}
    for _ in range(repeats):  # interleaved, best of repeats
        best["relulab"] = max(best.get("relulab", 0.0), relulab_rate(steps, dtype))
        best["eager"] = max(best.get("eager", 0.0), eager.run(steps))
        if comp is not None:
            best["compiled"] = max(best.get("compiled", 0.0), comp.run(steps))
        best["bmm"] = max(best.get("bmm", 0.0), bmm_bound(dtype, steps))
    if comp is not None:
        best["compile_s"] = compile_s
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} "
          f"load={load:.2f} (1-min) cores={os.cpu_count()}")
    print(f"two-layer d=100 n=50 c=50 batch 16, S={SEEDS}, {args.steps} steps, "
          f"best of {args.repeats}")
    for dtype in args.dtypes.split(","):
        r = measure(dtype, args.steps, args.repeats, not args.no_compile)
        line = (f"{dtype}: relulab {r['relulab']:,.0f} seed-steps/s, vmap eager "
                f"{r['eager']:,.0f} ({r['relulab'] / r['eager']:.1f}x, target >= 4x)")
        if "compiled" in r:
            line += (f", vmap compiled {r['compiled']:,.0f} "
                     f"({r['relulab'] / r['compiled']:.1f}x, target >= 3x; compile and warm-up "
                     f"{r['compile_s']:.1f} s)")
        print(line)
        print(f"  {dtype}: the step's six batched GEMMs alone (torch.bmm): {r['bmm']:,.0f} "
              f"seed-steps/s; relulab runs at {r['relulab'] / r['bmm']:.2f} of that")
    print(f"load={os.getloadavg()[0]:.2f} (1-min) at the end")


if __name__ == "__main__":
    main()
