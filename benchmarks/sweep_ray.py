"""Ray executor overhead: wall time of one small sweep, local vs Ray, and per task.

The sweep: the demo preset shrunk (4 cells x 3 seeds, 2 epochs x 20 steps), one member per
batch, so 12 tasks. Measured in one process on a local Ray instance of ``--cpus`` CPUs:

- local executor (this process, torch threads = --cpus), after one warm-up run;
- Ray start-up (``ray.init``), then the sweep on cold workers (each imports torch + relulab);
- the same sweep again on the warm workers, one task at a time (``cpus_per_task = --cpus``,
  same threads as local): (Ray - local) / tasks is the overhead per task;
- an empty Ray task's round trip (the floor of that overhead);
- again with one CPU per task (tasks in parallel).

Usage: python benchmarks/sweep_ray.py [--cpus 2] [--seeds 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on

from relulab.config import with_overrides
from relulab.config.grid import SweepSpec, parse_grid
from relulab.config.presets import get_preset
from relulab.sweeps.executors import get_executor
from relulab.sweeps.runner import run_sweep

TINY = {"epochs": "2", "steps_per_epoch": "20", "N": "512", "data.eval_size": "256",
        "multi": "4", "c": "10", "dtype": "float32"}


def spec(seeds: int) -> SweepSpec:
    base = with_overrides(get_preset("demo"), TINY)
    return SweepSpec("demo", base, parse_grid(["m=2,3", "p=0,1"]), tuple(range(seeds)),
                     tuple(TINY.items()))


def timed_sweep(root: Path, executor, repeats: int = 1) -> tuple[float, int]:
    """Fastest of ``repeats`` runs of the sweep into fresh folders (the machine is shared)."""
    best, batches = float("inf"), 0
    for i in range(repeats):
        t0 = time.perf_counter()
        summary = run_sweep(spec(ARGS.seeds), root / str(i), executor=executor, max_members=1)
        best, batches = min(best, time.perf_counter() - t0), summary.batches
    return best, batches


def noop_roundtrip_ms(ray, n: int = 50) -> float:
    """Milliseconds per submit + get of an empty task, one after another (warm worker)."""
    noop = ray.remote(num_cpus=1)(lambda: None)
    ray.get(noop.remote())
    t0 = time.perf_counter()
    for _ in range(n):
        ray.get(noop.remote())
    return (time.perf_counter() - t0) / n * 1e3


def main() -> None:
    try:
        import ray
    except ImportError:
        print("ray is not installed (pip install -e '.[ray]'); skipped")
        return
    torch.set_num_threads(ARGS.cpus)
    tmp = Path(tempfile.mkdtemp(prefix="relulab-ray-bench-"))
    timed_sweep(tmp / "warm-up", get_executor("local"))  # first-call costs of this process
    local_s, tasks = timed_sweep(tmp / "local", get_executor("local"), ARGS.repeats)
    torch.set_num_threads(1)
    local1_s, _ = timed_sweep(tmp / "local1", get_executor("local"), ARGS.repeats)
    torch.set_num_threads(ARGS.cpus)
    t0 = time.perf_counter()
    ray.init(num_cpus=ARGS.cpus, include_dashboard=False, logging_level="WARNING")
    init_s = time.perf_counter() - t0
    cold_s, _ = timed_sweep(tmp / "cold", get_executor("ray", cpus_per_task=1))
    serial_s, _ = timed_sweep(tmp / "serial", get_executor("ray", cpus_per_task=ARGS.cpus),
                              ARGS.repeats)
    parallel_s, _ = timed_sweep(tmp / "parallel", get_executor("ray", cpus_per_task=1),
                                ARGS.repeats)
    noop_ms = noop_roundtrip_ms(ray)
    ray.shutdown()
    rows = [("local executor", local_s), ("local executor, 1 torch thread", local1_s),
            ("ray.init (local instance)", init_s),
            ("ray, cold workers, 1 CPU/task", cold_s),
            (f"ray, warm, {ARGS.cpus} CPUs/task (serial)", serial_s),
            ("ray, warm, 1 CPU/task (parallel)", parallel_s)]
    print(f"small sweep: {tasks} tasks (4 cells x {ARGS.seeds} seeds, 1 member per batch), "
          f"{ARGS.cpus} CPUs, results in {tmp}")
    print(f"{'run':42s} {'wall s':>8s} {'/ local':>8s}")
    for name, seconds in rows:
        print(f"{name:42s} {seconds:8.2f} {seconds / local_s:8.2f}")
    print(f"overhead per task, warm serial vs local: {(serial_s - local_s) / tasks * 1e3:.0f} ms")
    print(f"Ray floor: an empty task's round trip {noop_ms:.1f} ms")
    print(f"overhead per task, cold vs local (incl. worker start): "
          f"{(cold_s - local_s) / tasks * 1e3:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="best of N (warm runs)")
    ARGS = parser.parse_args()
    sys.exit(main())
