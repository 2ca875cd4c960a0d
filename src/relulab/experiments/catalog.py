"""The Student Specialization experiments as commands: ``relulab experiment NAME
[--full] --out DIR``. Each experiment is one or more sweeps (*parts*, each a
:class:`~relulab.experiments.specialization.SweepPreset` run into ``DIR/<part>`` by the sweep
machinery, so a rerun resumes) and a summary (:mod:`relulab.experiments.tables`).

Reduced defaults use the ``demo`` preset (the two-layer original's conventions: ½·Σ loss,
minibatches with replacement, d = 20, c = 20, N = 2000, 10 epochs × 500 steps) in float32 (at the
fidelity reference's settings float32 passes every ``relulab validate`` claim); ``--full`` uses
``spec-two-layer`` (d = 100, c = 50, N = 10000, 100 × 1000 steps, float64) with the paper's grids
and 32 seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from relulab.config import ConfigError
from relulab.experiments.specialization import SweepPreset

REDUCED = ("dtype=float32", "stats_every=1")
FULL = ("stats_every=1",)
THEORY = ("data.kind=theory_suggested", "alpha_mean=2", "alpha_width=2")  # the paper's Fig. 9


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    reduced: tuple[SweepPreset, ...]
    full: tuple[SweepPreset, ...]

    def parts(self, full: bool) -> tuple[SweepPreset, ...]:
        return self.full if full else self.reduced


def _part(name: str, preset: str, grid: tuple[str, ...], seeds: int,
          overrides: tuple[str, ...]) -> SweepPreset:
    return SweepPreset(name, f"{preset} {' '.join(grid)}", preset, grid, seeds, overrides)


def _pair(name: str, grid: tuple[str, ...], reduced: tuple[str, ...], full: tuple[str, ...],
          seeds: tuple[int, int] = (8, 32), full_grid: tuple[str, ...] | None = None
          ) -> tuple[SweepPreset, SweepPreset]:
    return (_part(name, "demo", grid, seeds[0], REDUCED + reduced),
            _part(name, "spec-two-layer", full_grid or grid, seeds[1], FULL + full))


_KIND = "data.kind=gaussian,theory_suggested"
_IB = _pair("two-layer", ("m=20", "multi=1,2,5,10", "p=0.5,1.5,2.5"), (), (),
            full_grid=("m=20", "multi=1,2,5,10", "p=0.5,1,1.5,2,2.5"))
_AUG = _pair("two-layer", ("m=5", "multi=1,2,5,10", _KIND), ("p=1", "N=150", *THEORY[1:]),
             ("p=1", "N=150", *THEORY[1:]))
_SC = _pair("two-layer", ("m=5", "multi=2", _KIND, "N=30,90,300,900"),
            ("p=1", *THEORY[1:]), ("p=1", *THEORY[1:]),
            full_grid=("m=5", "multi=1,2,5,10", _KIND, "N=510,1200,2400,4800,9600,19995"))
_LEAKY = ("teacher.leaky_slope=0.1", "student.leaky_slope=0.1")
_LK_GRID = ("m=10", "multi=1,5", "p=0,1,2")
_LS = _pair("two-layer", ("m=10", "multi=1,2,5,10", "p=0,1,2"), (), ())
_DEEP_R = ("widths=10,15,20,25", "multi=5", "N=20000", "data.eval_size=2048", "epochs=5",
           "stats.h=true", "stats.train_samples=4096", "dtype=float32")

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("inductive-bias", "success rate per teacher node vs p (m=20, multi 1,2,5,10) and "
               "the epoch each node is first recovered", (_IB[0],), (_IB[1],)),
    Experiment("augmentation", "theory-suggested vs Gaussian training set at equal sample "
               "count (N=150, m=5, p=1): success rate per teacher node", (_AUG[0],), (_AUG[1],)),
    Experiment("sample-complexity", "success rate vs N_train for the theory-suggested and the "
               "Gaussian training set (m=5, p=1)", (_SC[0],), (_SC[1],)),
    Experiment("leaky", "Leaky ReLU (slope 0.1) vs ReLU teachers and students (m=10, p=0,1,2)",
               (_part("relu", "demo", _LK_GRID, 8, REDUCED),
                _part("leaky", "demo", _LK_GRID, 8, REDUCED + _LEAKY)),
               (_part("relu", "spec-two-layer", _LK_GRID, 32, FULL),
                _part("leaky", "spec-two-layer", _LK_GRID, 32, FULL + _LEAKY))),
    Experiment("lshape", "L-shape (m=10, p=0,1,2, multi 1,2,5,10; x = train correlation) and "
               "the multilayer L-shape y = sqrt(diag E[beta])",
               (_LS[0], _part("multilayer", "spec-multilayer-orig", (), 2, _DEEP_R)),
               (_LS[1], _part("multilayer", "spec-multilayer-orig", (), 1,
                              ("stats.h=true", "stats.train_samples=20000")))),
)}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment '{name}' (known: list, {', '.join(EXPERIMENTS)})")
    return EXPERIMENTS[name]
