"""Memory of the paper sweep's largest group, and what its members' shared inputs hold twice.

The largest group of the Student Specialization sweep is m=20, multi=10 (n=200): 6 values of p
x 32 seeds = 192 members. p changes the teacher only, and a member's training and eval inputs
derive from (root seed, seed, stream), so the 6 members of a seed hold equal input sets.
This sets the group up as the engine does (nets, inputs, teacher targets) and prints the peak
resident memory, each data tensor's size, the distinct input sets and the bytes that storing
each distinct set once would free.

Usage: python benchmarks/group_memory.py [--dtype float64]
"""

from __future__ import annotations

import argparse
import resource
import time

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on

from relulab import get_preset, with_overrides
from relulab.training.setup import build_group, memory_estimate, predict_chunked

P_VALUES = (0, 0.5, 1, 1.5, 2, 2.5)
SEEDS = 32


def gb(t: torch.Tensor) -> float:
    return t.numel() * t.element_size() / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float64")
    args = ap.parse_args()
    cfgs, seeds = [], []
    for p in P_VALUES:
        cfg = with_overrides(get_preset("spec-two-layer"),
                             {"m": 20, "multi": 10, "p": p, "dtype": args.dtype})
        cfgs += [cfg] * SEEDS
        seeds += list(range(SEEDS))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t0 = time.perf_counter()
    teacher, _, src = build_group(cfgs, seeds)
    train_x, eval_x = src.train_inputs(), src.eval_inputs()
    assert train_x is not None
    train_y, eval_y = predict_chunked(teacher, train_x), predict_chunked(teacher, eval_x)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux -> GB
    distinct = len(set(seeds))
    equal = all(bool((train_x[i] == train_x[i % SEEDS]).all()) for i in range(len(seeds)))
    print(f"{args.dtype}, {len(seeds)} members (m=20, multi=10, 6 p x {SEEDS} seeds): set-up "
          f"{seconds:.1f} s, peak RSS {rss:.2f} GB (process before: {rss0:.2f} GB), engine's "
          f"estimate {memory_estimate(cfgs[0], len(seeds)) / 1e9:.2f} GB")
    print(f"train inputs {gb(train_x):.3f} GB, train targets {gb(train_y):.3f} GB, eval inputs "
          f"{gb(eval_x):.3f} GB, eval targets {gb(eval_y):.3f} GB")
    share = 1 - distinct / len(seeds)
    print(f"distinct input sets {distinct} of {len(seeds)} (members of a seed equal: {equal}); "
          f"stored once they would free {gb(train_x) * share:.3f} GB (train) + "
          f"{gb(eval_x) * share:.3f} GB (eval)")


if __name__ == "__main__":
    main()
