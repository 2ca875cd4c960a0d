"""``relulab experiment list|NAME [--full] --out DIR``: the Student Specialization experiments
(:mod:`relulab.experiments.catalog`) on the sweep machinery (resumable), then their summary
tables (``DIR/summary.md``), figures and one report per part (``DIR/<part>/report.html``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from relulab.cli.common import console, user_errors
from relulab.cli.sweep import DeviceOpt, ProgressOpt, _run
from relulab.config import ConfigError
from relulab.config.grid import DEFAULT_MAX_MEMBERS
from relulab.experiments.catalog import EXPERIMENTS, get_experiment
from relulab.results.store import atomic_write


@contextmanager
def _threads(count: int) -> Iterator[None]:
    import torch

    if count < 0:
        raise ConfigError(f"--threads must be >= 0, got {count}")
    before = torch.get_num_threads()
    torch.set_num_threads(count or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _list() -> None:
    for exp in EXPERIMENTS.values():
        print(f"{exp.name:18} {exp.summary}")


@user_errors
def experiment(
    name: Annotated[str, typer.Argument(help="'list', or an experiment name")],
    out: Annotated[Path | None, typer.Option(
        help="results folder (one sweep folder per part; resumed if it exists)")] = None,
    full: Annotated[bool, typer.Option(help="the paper's size instead of the reduced default")
                    ] = False,
    seeds: Annotated[int | None, typer.Option(help="seeds per cell [the experiment's]")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="extra override for every cell, key=value")] = None,
    device: DeviceOpt = "auto",
    progress: ProgressOpt = True,
    report: Annotated[bool, typer.Option(help="draw the figures and one report per part")
                      ] = True,
    threads: Annotated[int, typer.Option(
        help="torch intra-op threads (0: torch's default); the reduced runs are dispatch-bound "
             "and a busy machine made 2 threads 7x slower than 1")] = 1,
) -> None:
    """Run (or resume) a Student Specialization experiment: `relulab experiment list` names
    them."""
    if name == "list":
        _list()
        return
    exp = get_experiment(name)
    if out is None:
        raise ConfigError("--out DIR is required to run an experiment")
    specs = [(part.name, part.spec(seeds, set_ or [])) for part in exp.parts(full)]
    for _, spec in specs:
        spec.cells()  # validate every part before running any
    t0 = time.perf_counter()
    with _threads(threads):
        for part, spec in specs:
            console.print(f"{name} / {part}: preset {spec.preset}, "
                          f"{len(spec.cells())} cells x {len(spec.seeds)} seeds")
            _run(spec, out / part, "local", device, DEFAULT_MAX_MEMBERS, False, progress)
    write_summary(name, {part: out / part for part, _ in specs}, out, full, report)
    console.print(f"{name} finished in {time.perf_counter() - t0:.0f} s")


def write_summary(name: str, parts: dict[str, Path], out: Path, full: bool,
                  report: bool = True) -> None:
    """Tables (printed and ``out/summary.md``), experiment figures, a report per part."""
    from relulab.experiments.tables import summarize
    from relulab.plots.experiments import experiment_figures
    from relulab.report import build_report

    tables = summarize(name, parts)
    size = "full (--full)" if full else "reduced (default)"
    text = f"# relulab experiment {name}, {size}\n\n" + "\n".join(t.markdown() for t in tables)
    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(text))
    console.print(text, markup=False, highlight=False)
    if not report:
        return
    experiment_figures(name, parts)
    for folder in parts.values():
        console.print(f"report: {build_report(folder)}")


def register(app: typer.Typer) -> None:
    app.command(help="Student Specialization experiments: `experiment list`, or "
                     "`experiment NAME [--full] --out DIR` (resumable).")(experiment)
