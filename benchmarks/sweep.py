"""Sweep throughput (issue 6): seed-steps/s of a full-size slice of the Student Specialization
two-layer sweep, and the projected time of the whole paper sweep on this machine.

1. Slice: m=10, multi=5, all six p, 32 seeds = 192 members as one batch, through the real sweep
   path (:func:`relulab.executors.run_task`: engine + StatsRecorder at the paper cadence, i.e.
   at init and after every epoch of 1000 steps, + rows as Arrow). Reports set-up, training-loop
   and statistics time, and seed-steps/s with and without statistics.
2. Projection: the paper sweep is 3 m x 4 multi x 6 p cells x 32 seeds x 100 epochs x 1000
   steps = 12 batches of 192 members (one per (m, multi)). Each (m, multi) other than the slice
   is probed with a short run (``--probe-steps``) for its step rate, statistics and set-up cost;
   ``--no-probe`` scales the slice by per-step FLOPs instead. Target: under 8 hours.

Usage: python benchmarks/sweep.py [--steps 1000] [--probe-steps 300] [--no-probe]
       [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from relulab.config import with_overrides
from relulab.executors import Task, run_task
from relulab.experiments import PAPER_TWO_LAYER_SWEEP
from relulab.grid import Batch, SweepSpec, parse_grid
from relulab.presets import get_preset
from relulab.stats import StatsRecorder

PAPER_EPOCHS = 100
STEPS_PER_EPOCH = 1000
TARGET_HOURS = 8.0


class TimedRecorder(StatsRecorder):
    """StatsRecorder that also sums the wall time of its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []

    def __call__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        if ctx.student.weights[0].is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        super().__call__(ctx)
        if ctx.student.weights[0].is_cuda:
            torch.cuda.synchronize()
        self.durations.append(time.perf_counter() - t0)


def group_batch(m: int, multi: int, steps: int, seeds: int = 32) -> Batch:
    """The paper sweep's (m, multi) group (all six p x ``seeds``), ``steps`` steps long."""
    paper = PAPER_TWO_LAYER_SWEEP
    base = with_overrides(get_preset(paper.preset), {"m": m, "multi": multi, "epochs": 1,
                                                     "steps_per_epoch": steps})
    grid = parse_grid([g for g in paper.grid if g.startswith("p=")])
    cells = tuple(SweepSpec(paper.preset, base, grid, tuple(range(seeds))).cells())
    return Batch(cells, tuple((i, s) for i in range(len(cells)) for s in range(seeds)))


def measure(m: int, multi: int, steps: int, device: str) -> dict[str, float]:
    """Time one batch of the (m, multi) group: set-up, per-step and per-statistics seconds."""
    batch = group_batch(m, multi, steps)
    recorders: list[TimedRecorder] = []

    def factory() -> TimedRecorder:
        recorders.append(TimedRecorder())
        return recorders[-1]

    t0 = time.perf_counter()
    out = run_task(Task(batch, device), recorder_factory=factory)
    wall = time.perf_counter() - t0
    calls = recorders[0].durations  # at init (before the loop), then inside the loop
    loop = out.loop_seconds if out.loop_seconds is not None else out.seconds - calls[0]
    train_s = loop - sum(calls[1:])
    # set-up (data, teachers, students) and row building: everything but steps and statistics
    setup = wall - loop - calls[0]
    return {"m": m, "multi": multi, "members": batch.size, "steps": steps, "wall": wall,
            "setup": max(setup, 0.0), "stats_calls": len(calls),
            "stats_per_call": sum(calls) / len(calls), "step_seconds": max(train_s, 1e-9) / steps}


def step_flops(m: int, multi: int, d: int = 100, c: int = 50, batch: int = 16) -> float:
    n = m * multi
    return 6.0 * batch * (d * n + n * c)  # forward + backward, per seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=STEPS_PER_EPOCH, help="steps of the slice")
    ap.add_argument("--probe-steps", type=int, default=300, help="steps of each group probe")
    ap.add_argument("--no-probe", action="store_true", help="scale the slice by FLOPs instead")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"load average {load:.1f} at start")

    s = measure(10, 5, args.steps, args.device)
    train_rate = s["members"] / s["step_seconds"]
    stats_epoch = s["stats_per_call"] / STEPS_PER_EPOCH  # amortised per step at the cadence
    with_stats = s["members"] / (s["step_seconds"] + stats_epoch)
    print(f"slice m=10 multi=5 x 6 p x 32 seeds = {s['members']} members, {s['steps']} steps: "
          f"wall {s['wall']:.1f} s (set-up {s['setup']:.1f} s, {s['stats_calls']} stats calls "
          f"of {s['stats_per_call']:.2f} s)")
    print(f"  seed-steps/s: {train_rate:,.0f} training only, {with_stats:,.0f} with statistics "
          "every 1000 steps", flush=True)

    groups = [(m, multi) for m in (5, 10, 20) for multi in (1, 2, 5, 10)]
    results = {(10, 5): s}
    print(f"{'m':>3} {'multi':>5} {'seed-steps/s':>13} {'stats s/call':>12} {'set-up s':>9} "
          f"{'hours':>7}   (probe: {'FLOPs-scaled slice' if args.no_probe else args.probe_steps})",
          flush=True)
    total = 0.0
    for m, multi in groups:
        if (m, multi) not in results:
            if args.no_probe:
                scale = step_flops(m, multi) / step_flops(10, 5)
                results[(m, multi)] = {**s, "m": m, "multi": multi,
                                       "step_seconds": s["step_seconds"] * scale,
                                       "stats_per_call": s["stats_per_call"] * scale}
            else:
                results[(m, multi)] = measure(m, multi, args.probe_steps, args.device)
        r = results[(m, multi)]
        steps = PAPER_EPOCHS * STEPS_PER_EPOCH
        seconds = (r["setup"] + steps * r["step_seconds"]
                   + (PAPER_EPOCHS + 1) * r["stats_per_call"])
        total += seconds
        print(f"{m:>3} {multi:>5} {r['members'] / r['step_seconds']:>13,.0f} "
              f"{r['stats_per_call']:>12.2f} {r['setup']:>9.1f} {seconds / 3600:>7.2f}",
              flush=True)
    seed_steps = 72 * 32 * PAPER_EPOCHS * STEPS_PER_EPOCH
    print(f"projected full paper sweep (72 cells x 32 seeds x 100 x 1000 steps = "
          f"{seed_steps:.3g} seed-steps): {total / 3600:.2f} h on this machine "
          f"(mean {seed_steps / total:,.0f} seed-steps/s); target < {TARGET_HOURS:.0f} h: "
          f"{'met' if total / 3600 < TARGET_HOURS else 'NOT met'}")
    print(f"ratio target/projected: {TARGET_HOURS * 3600 / total:.2f}")


if __name__ == "__main__":
    main()
