"""Sweep wall time: what a user waits for in the Student Specialization paper sweep.

The paper sweep is 3 m x 4 multi x 6 p x 32 seeds, 100 epochs x 1000 steps, statistics at
init and after every epoch: 12 batches of 192 members, one per (m, multi). Each group is run
through the real sweep path (:func:`relulab.sweeps.executors.run_task`: engine, StatsRecorder at the
paper cadence, rows as Arrow) twice, ``--short`` and ``--long`` epochs of 1000 steps. The
difference of the two wall times is ``long - short`` whole epochs (steps, per-epoch eval loss,
statistics calls; with N=10000 and batch 16, an epoch is 1.6 passes over the training set),
so set-up (data, teacher targets, the init statistics) cancels and first-pass costs are not
counted as per-step costs. Per group it prints seconds per 1e5 steps (its whole run), the
statistics seconds per call, achieved training FLOP/s next to ``torch.bmm`` FLOP/s at the
step's shapes, and the projection ``wall(short) + (100 - short) x epoch``; the total is the
projected sweep. The last column is the issue's full run (float32, old loss) for the check.

On a shared or oversubscribed machine pass ``--threads 1``: two spinning OpenMP threads on
busy cores run ~3x slower than one.

``--compare ROOT`` reads a real sweep's results (``relulab sweep ... --out ROOT``) and prints
each group's measured ``batch_seconds`` next to the projection, and the sweep's wall time
(first start to last finish), to check the projection against a full run.

Usage: python benchmarks/sweep.py [--short 1] [--long 3] [--repeats 1] [--set dtype=float32]
       [--groups 5x1,20x10] [--device cpu|cuda] [--threads N] [--compare ROOT]
"""

from __future__ import annotations

import argparse
import os
import time

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on

from relulab.config import with_overrides
from relulab.config.grid import Batch, SweepSpec, parse_grid
from relulab.config.presets import get_preset
from relulab.experiments import PAPER_TWO_LAYER_SWEEP
from relulab.sweeps.executors import Task, run_task
from relulab.training.recorder import StatsRecorder

PAPER_EPOCHS = 100
STEPS_PER_EPOCH = 1000
TARGET_HOURS = 1.0
GROUPS = [(m, multi) for m in (5, 10, 20) for multi in (1, 2, 5, 10)]
# a measured full run of the sweep (float32, loss=mse, FiniteStream passes): seconds per group
ISSUE_FULL_RUN = {5: "301", 10: "306-316", 20: "364", 25: "379", 50: "504-523",
                  100: "718-792", 200: "~1500"}


class TimedRecorder(StatsRecorder):
    """StatsRecorder that also records the wall time of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []

    def __call__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        sync(ctx.student.weights[0].device)
        t0 = time.perf_counter()
        super().__call__(ctx)
        sync(ctx.student.weights[0].device)
        self.durations.append(time.perf_counter() - t0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def group_batch(m: int, multi: int, epochs: int, overrides: dict[str, str],
                seeds: int = 32) -> Batch:
    """The paper sweep's (m, multi) group (all six p x ``seeds``), ``epochs`` epochs long."""
    paper = PAPER_TWO_LAYER_SWEEP
    base = with_overrides(get_preset(paper.preset), {**overrides, "m": m, "multi": multi,
                                                     "epochs": epochs})
    grid = parse_grid([g for g in paper.grid if g.startswith("p=")])
    cells = tuple(SweepSpec(paper.preset, base, grid, tuple(range(seeds))).cells())
    return Batch(cells, tuple((i, s) for i in range(len(cells)) for s in range(seeds)))


def timed_run(batch: Batch, device: str) -> tuple[float, list[float]]:
    """Wall seconds of one batch through the sweep path, and its statistics calls' seconds."""
    recorders: list[TimedRecorder] = []

    def factory() -> TimedRecorder:
        recorders.append(TimedRecorder())
        return recorders[-1]

    t0 = time.perf_counter()
    run_task(Task(batch, device), recorder_factory=factory)
    return time.perf_counter() - t0, recorders[0].durations


def bmm_seconds(members: int, n: int, dtype: torch.dtype, device: str, d: int = 100,
                c: int = 50, b: int = 16, reps: int = 50) -> tuple[float, float]:
    """Seconds of the fused step's five batched matmuls at the group's shapes, and their
    FLOPs: forward (d->n, n->c), backward (c->n input gradient, two weight gradients)."""
    def r(*shape: int) -> torch.Tensor:
        return torch.randn(members, *shape, dtype=dtype, device=device)

    mats = [(r(b, d), r(d, n)), (r(b, n), r(n, c)), (r(b, c), r(c, n)),
            (r(c, b), r(b, n)), (r(n, b), r(b, d))]
    flops = sum(2 * members * a.shape[1] * a.shape[2] * w.shape[2] for a, w in mats)
    best = float("inf")
    for _ in range(3):
        sync(torch.device(device))
        t0 = time.perf_counter()
        for _ in range(reps):
            for a, w in mats:
                torch.bmm(a, w)
        sync(torch.device(device))
        best = min(best, (time.perf_counter() - t0) / reps)
    return best, flops


def measure(m: int, multi: int, args: argparse.Namespace) -> dict[str, float]:
    """Differenced epochs of group (m, multi) and its projected seconds in the full sweep."""
    short, long = (group_batch(m, multi, e, args.overrides) for e in (args.short, args.long))
    # the fastest of ``repeats`` runs of each length: load from other processes only slows
    wall_s, stats_s = min(timed_run(short, args.device) for _ in range(args.repeats))
    wall_l, stats_l = min(timed_run(long, args.device) for _ in range(args.repeats))
    epochs = args.long - args.short
    epoch = (wall_l - wall_s) / epochs  # steps + eval loss + one statistics call
    stats_call = (sum(stats_l) - sum(stats_s)) / epochs
    cfg = short.cells[0].config
    step = (epoch - stats_call) / cfg.steps_per_epoch
    bmm, flops = bmm_seconds(short.size, m * multi, getattr(torch, cfg.dtype), args.device)
    return {"members": short.size, "epoch": epoch, "stats_call": stats_call, "step": step,
            "train_gflops": flops / step / 1e9, "bmm_gflops": flops / bmm / 1e9,
            "per_1e5": epoch * 1e5 / cfg.steps_per_epoch,
            "projected": wall_s + (PAPER_EPOCHS - args.short) * epoch}


def real_sweep(root: str) -> tuple[dict[tuple[int, int], float], float]:
    """Per (m, multi) group, the batch seconds of a real sweep under ``root``, and its wall
    seconds from the first batch's start to the last one's finish."""
    from datetime import datetime

    from relulab.results.query import query

    rows = query(root, "SELECT DISTINCT batch_id, batch_seconds, m, multi, started_at, "
                       "finished_at FROM results WHERE layer = 1").to_pylist()
    groups = {(r["m"], r["multi"]): r["batch_seconds"] for r in rows}
    start = min(datetime.fromisoformat(r["started_at"]) for r in rows)
    end = max(datetime.fromisoformat(r["finished_at"]) for r in rows)
    return groups, (end - start).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=1, help="epochs of the short run")
    ap.add_argument("--long", type=int, default=3, help="epochs of the long run")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs of each length; the fastest counts (noisy, shared machines)")
    ap.add_argument("--set", dest="sets", action="append", default=[],
                    help="override of the spec-two-layer preset, e.g. dtype=float32")
    ap.add_argument("--groups", default="", help="only these m x multi groups, e.g. 5x1,20x10")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--compare", default=None,
                    help="results of a real full sweep to print next to the projection")
    args = ap.parse_args()
    if args.long <= args.short:
        ap.error("--long must exceed --short")
    args.overrides = dict(s.split("=", 1) for s in args.sets)
    if args.threads:
        torch.set_num_threads(args.threads)
    groups = GROUPS if not args.groups else [
        tuple(int(v) for v in g.split("x")) for g in args.groups.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"overrides {args.overrides or 'none'}, load average {load:.1f} at start; runs of "
          f"{args.short} and {args.long} epochs x {STEPS_PER_EPOCH} steps per group")
    print(f"{'m':>3} {'multi':>5} {'n':>4} {'ms/step':>8} {'stats s':>8} {'s/1e5 steps':>11} "
          f"{'GFLOP/s':>8} {'bmm':>7} {'ratio':>5} {'projected s':>11} {'issue run s':>11}"
          + (f" {'real s':>9}" if args.compare else ""),
          flush=True)
    real, real_wall = real_sweep(args.compare) if args.compare else ({}, 0.0)
    # warm-up: the first batch of a process pays one-time costs (first touch of GBs of
    # memory, library initialisation) that would make the first group's difference negative
    timed_run(group_batch(*groups[0], 1, {**args.overrides, "steps_per_epoch": "10"}),
              args.device)
    total = 0.0
    for m, multi in groups:
        r = measure(m, multi, args)
        total += r["projected"]
        print(f"{m:>3} {multi:>5} {m * multi:>4} {r['step'] * 1e3:>8.2f} "
              f"{r['stats_call']:>8.2f} {r['per_1e5']:>11.0f} "
              f"{r['train_gflops']:>8.2f} {r['bmm_gflops']:>7.2f} "
              f"{r['train_gflops'] / r['bmm_gflops']:>5.2f} {r['projected']:>11.0f} "
              f"{ISSUE_FULL_RUN.get(m * multi, '-'):>11}"
              + (f" {real[m, multi]:>9.0f}" if (m, multi) in real else ""), flush=True)
    scope = "full paper sweep" if len(groups) == len(GROUPS) else f"{len(groups)} groups"
    print(f"projected {scope}: {total / 3600:.2f} h = {total / 60:.0f} min on this machine "
          f"(target < {TARGET_HOURS:.0f} h: {'met' if total / 3600 < TARGET_HOURS else 'NOT met'}"
          f"; load average now {os.getloadavg()[0]:.1f})")
    if real:
        same = sum(real.get(g, 0.0) for g in groups)  # the real seconds of the groups measured
        print(f"real sweep {args.compare}: batches {sum(real.values()) / 60:.0f} min, wall "
              f"{real_wall / 60:.0f} min; projection / real over these groups = "
              f"{total / same:.2f}" if same else "no measured group in the real sweep")


if __name__ == "__main__":
    main()
