"""Training from Python: :func:`train` takes a config or a preset's name, seeds, and
optionally your own teacher (an ``nn.Module``, a list of S modules, or a
:class:`relulab.nets.networks.Net`), and records the default statistics."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from relulab.config import ConfigError, RunConfig
from relulab.config.inputs import parse_seeds as parse_seed_text
from relulab.config.presets import get_preset
from relulab.training.engine import TrainResult
from relulab.training.engine import train as train_members
from relulab.training.setup import resolve_device


def parse_seeds(seeds: int | str | Sequence[int]) -> list[int]:
    """Seeds as a list: ``4`` -> 0..3, ``"8:16"`` -> 8..15, ``"1,5,9"`` or ``[1, 5, 9]`` as
    given (ConfigError, one line, for anything else: no seeds, negative or repeated ones)."""
    if isinstance(seeds, bool):
        raise ConfigError(f"seeds must be a count, A:B or a list, got {seeds!r}")
    if isinstance(seeds, int | str):
        return list(parse_seed_text(seeds))
    return list(parse_seed_text("".join(f"{int(s)}," for s in seeds) or ","))  # a list


def train(cfg: RunConfig | str, seeds: int | str | Sequence[int] = 4, *,
          teacher: Any = None, student: Any = None, stats: bool = True,
          device: str | torch.device = "auto", progress: bool = False,
          out: str | os.PathLike | None = None, callbacks: Sequence[Any] = (),
          **engine_options: Any) -> TrainResult:
    """Train one student per seed, all seeds as one tensor program; returns a
    :class:`~relulab.training.engine.TrainResult` (``.scalars`` and ``.layers`` as
    DataFrames, ``.student_modules()`` as ``nn.Module``).

    ``cfg``: a :class:`~relulab.config.RunConfig` or a preset's name. ``seeds``: a count, an
    ``"A:B"`` range or a list. ``teacher``: your teacher as a module, a list of S modules or a
    ``Net`` (its widths, sizes and dtype are taken into the recorded config); ``student``
    likewise, else drawn from the config. ``stats=False`` skips the statistics (the default
    records the per-layer rows of ``relulab train``). ``out`` writes the run's folder (the
    layout of a one-cell sweep, for :func:`relulab.load`). Other options go to
    :func:`relulab.training.engine.train` (``max_steps``, ``checkpoint``, ``resume``, ...).
    """
    if isinstance(cfg, str):
        cfg = get_preset(cfg)
    seeds = parse_seeds(seeds)
    dev = resolve_device(device)
    if teacher is not None:
        from relulab.training.setup import nets_from_user

        cfg, t, s = nets_from_user(cfg, seeds, teacher, student, device=dev)
        engine_options["nets"] = (t, s)
    elif student is not None:
        raise ConfigError("a given student needs its teacher (teacher=...)")
    recorder = None
    if stats:
        from relulab.training.recorder import StatsRecorder

        recorder = StatsRecorder()
        callbacks = [*callbacks, recorder]
    result = train_members(cfg, seeds, device=dev, callbacks=callbacks, progress=progress,
                           **engine_options)
    if recorder is not None:
        result.layer_rows = recorder.tables()["layers"]
    if out is not None:
        from relulab.sweeps.single import write_run

        write_run(out, result, result.layer_rows, command="relulab.train(...)")
    return result
