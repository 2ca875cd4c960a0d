"""Statistics overhead, measured in one run and printed as ratios.

Trains a preset twice from the same seeds, without and with a :class:`StatsRecorder` at the
paper cadence (``stats_every=1``: every epoch, plus init and end), and prints

- wall-clock overhead ``t_with / t_without - 1``,
- the recorder's own share ``t_callbacks / (t_with - t_callbacks)`` (less sensitive to noise),
- the per-epoch ratio of a long run: time of one statistics call (after the first, which also
  caches the teacher's eval activations) over the training time of one epoch.

Target: <= 10 %. Defaults: spec-two-layer (S=32 seeds, eval 10000, 1000 steps per epoch) and
luck-fc-small (S=8, eval 1024, 1563 steps per epoch), each cut to a few epochs (the init call is
then a larger share than in a full run, so the ratio is conservative).

Usage: python benchmarks/metrics.py [--device cpu|cuda] [--epochs N] [--presets a,b]
       [--threads T]
"""

from __future__ import annotations

import argparse
import time

# isort: off
import relulab  # noqa: F401  (before torch: relulab turns on huge pages for it)
import torch
# isort: on

from relulab import get_preset, with_overrides
from relulab.training.engine import StatsContext, train
from relulab.training.recorder import StatsRecorder

SEEDS = {"spec-two-layer": 32, "luck-fc-small": 8, "luck-fc": 4, "spec-multilayer": 8,
         "demo": 8}


class TimedRecorder(StatsRecorder):
    """A StatsRecorder that adds up the time spent in its calls."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.call_seconds: list[float] = []

    @property
    def seconds(self) -> float:
        return sum(self.call_seconds)

    def __call__(self, ctx: StatsContext) -> None:
        sync(self.device)
        t0 = time.perf_counter()
        super().__call__(ctx)
        sync(self.device)
        self.call_seconds.append(time.perf_counter() - t0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_train(cfg, seeds: int, device: torch.device, callbacks=()) -> float:
    sync(device)
    t0 = time.perf_counter()
    train(cfg, range(seeds), device=device, callbacks=callbacks)
    sync(device)
    return time.perf_counter() - t0


def overhead(preset: str, epochs: int, device: torch.device) -> None:
    cfg = with_overrides(get_preset(preset), {"epochs": str(epochs), "stats_every": "1"})
    seeds = SEEDS.get(preset, 8)
    warm = with_overrides(cfg, {"epochs": "1", "steps_per_epoch": "20"})
    timed_train(warm, seeds, device, [TimedRecorder(device)])  # warm-up (allocator, kernels)
    t_without = timed_train(cfg, seeds, device)
    recorder = TimedRecorder(device)
    t_with = timed_train(cfg, seeds, device, [recorder])
    calls = len(recorder.call_seconds)
    wall = t_with / t_without - 1
    share = recorder.seconds / (t_with - recorder.seconds)
    # a long run makes one call per epoch; the first call also caches the teacher's activations
    per_call = sum(recorder.call_seconds[1:]) / max(calls - 1, 1)
    per_epoch = t_without / epochs
    print(f"{preset}: S={seeds}, {epochs} epochs x {cfg.steps_per_epoch} steps, "
          f"eval {cfg.data.eval_size}, {calls} statistics calls on {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"  train without stats {t_without:7.2f} s   with stats {t_with:7.2f} s   "
          f"in recorder {recorder.seconds:6.2f} s")
    print(f"  this run: wall-clock overhead {wall:+.1%}, recorder share {share:.1%}")
    print(f"  per epoch (long run): {per_call * 1e3:.0f} ms of statistics / "
          f"{per_epoch * 1e3:.0f} ms of training = {per_call / per_epoch:.1%}   (target <= 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--presets", default="spec-two-layer,luck-fc-small")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for preset in args.presets.split(","):
        overhead(preset, args.epochs, device)


if __name__ == "__main__":
    main()
