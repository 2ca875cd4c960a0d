"""A sweep in one call: :func:`sweep` is ``relulab sweep`` from Python."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from relulab.api.results import Results
from relulab.api.training import parse_seeds
from relulab.config import with_overrides
from relulab.config.grid import DEFAULT_MAX_MEMBERS, Grid, SweepSpec
from relulab.config.presets import get_preset
from relulab.sweeps.executors import get_executor
from relulab.sweeps.runner import run_sweep
from relulab.training.setup import resolve_device


def sweep(preset: str, *, out: str | os.PathLike,
          grid: Mapping[str, Sequence[Any]] | Grid | None = None,
          seeds: int | str | Sequence[int] = 4, set: Mapping[str, Any] | None = None,  # noqa: A002
          executor: str = "local", device: str = "auto",
          max_members: int = DEFAULT_MAX_MEMBERS, save_weights: bool = True,
          progress: bool = False, **executor_options: Any) -> Results:
    """Run (or resume) ``preset`` over ``grid`` (``{"p": [0, 2], "multi": [1, 5]}``) for
    ``seeds`` into ``out``; returns the folder as :class:`Results`. ``set`` takes what
    ``--set`` takes (``{"epochs": 10}``); the rows equal those of ``relulab sweep`` with the
    same preset, grid, ``--set`` and seeds, and a rerun skips the members already done."""
    overrides = {str(k): str(v) if not isinstance(v, str) else v for k, v in (set or {}).items()}
    cfg = with_overrides(get_preset(preset), overrides)
    spec = SweepSpec(preset, cfg, grid if isinstance(grid, Grid) else Grid.of(grid or {}),
                     tuple(parse_seeds(seeds)), tuple(overrides.items()))
    runner = get_executor(executor, **executor_options)
    per_worker = getattr(runner, "resolves_device", False)
    try:
        run_sweep(spec, out, executor=runner,
                  device=device if per_worker else str(resolve_device(device)),
                  max_members=max_members, save_weights=save_weights, progress=progress,
                  command=f"relulab.sweep({preset!r})")
    finally:
        runner.close()
    return Results(out)
