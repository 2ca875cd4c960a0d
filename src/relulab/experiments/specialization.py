"""Student Specialization (Tian 2020) two-layer sweep: recovery rate vs teacher node index,
per fan-out decay p, for each (m, multi) (docs/conventions.md), and its reduced demo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relulab.config import ConfigError, parse_set_args, with_overrides
from relulab.config.grid import SweepSpec, parse_grid
from relulab.config.presets import get_preset


@dataclass(frozen=True)
class SweepPreset:
    """A named sweep: config preset, ``--grid`` items, ``--set`` items and seed count."""

    name: str
    summary: str
    preset: str
    grid: tuple[str, ...]
    seeds: int
    overrides: tuple[str, ...] = ()

    def spec(self, seeds: int | None = None, extra: Sequence[str] = ()) -> SweepSpec:
        """The sweep spec, with ``seeds`` (default: the paper's) and extra ``--set`` items."""
        overrides = parse_set_args([*self.overrides, *extra])
        cfg = with_overrides(get_preset(self.preset), dict(overrides))
        count = self.seeds if seeds is None else seeds
        if count < 1:
            raise ConfigError(f"--seeds must be positive, got {count}")
        return SweepSpec(self.preset, cfg, parse_grid(self.grid), tuple(range(count)),
                         tuple(overrides.items()))


PAPER_TWO_LAYER_SWEEP = SweepPreset(
    "spec-two-layer",
    "Student Specialization Fig.: m=5,10,20 x multi=1,2,5,10 x p=0..2.5, 32 seeds, "
    "100 epochs x 1000 steps",
    preset="spec-two-layer",
    grid=("m=5,10,20", "multi=1,2,5,10", "p=0,0.5,1,1.5,2,2.5"),
    seeds=32,
)

DEMO_SWEEP = SweepPreset(
    "demo",
    "Reduced two-layer sweep: m=5,10 x multi=1,5 x p=0,1,2, 8 seeds, demo preset (d=20, c=20)",
    preset="demo",
    grid=("m=5,10", "multi=1,5", "p=0,1,2"),
    seeds=8,
)

SWEEPS = {s.name: s for s in (PAPER_TWO_LAYER_SWEEP, DEMO_SWEEP)}


def get_sweep(name: str) -> SweepPreset:
    if name not in SWEEPS:
        raise ConfigError(f"unknown sweep '{name}' (known: {', '.join(SWEEPS)})")
    return SWEEPS[name]
