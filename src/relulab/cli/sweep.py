"""``relulab sweep``, ``query``, ``plot``, ``report`` and ``demo``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from relulab.cli.common import CONFIG_HELP, base_config, console, resolve_device, user_errors
from relulab.cli.output import FormatOpt, emit_table, note
from relulab.config import ConfigError, parse_set_args, with_overrides
from relulab.config.grid import DEFAULT_MAX_MEMBERS, SweepSpec, parse_grid
from relulab.config.inputs import parse_seeds
from relulab.config.presets import get_preset
from relulab.experiments import DEMO_SWEEP

QUERY_ROWS = 50  # rows printed by `relulab query` (the rest: --to FILE)
DeviceOpt = Annotated[str, typer.Option(help="auto | cpu | cuda")]
ProgressOpt = Annotated[bool, typer.Option(help="show a progress bar")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="override for every cell, key=value")]
FolderArg = Annotated[Path, typer.Argument(help="sweep results folder")]


def print_headline(root: Path, title: str, fmt: str = "table") -> None:
    """The headline numbers of a sweep (a drawn table by default: `make demo | tee` logs)."""
    from relulab.report import format_headline, headline

    cols, rows = format_headline(headline(root))
    emit_table(cols, rows, title, fmt)


def _run(spec: SweepSpec, out: Path, executor: str, device: str, max_members: int,
         save_weights: bool, progress: bool, options: dict[str, Any] | None = None) -> None:
    from relulab.interrupts import EXIT_INTERRUPTED, terminate_raises
    from relulab.sweeps.executors import get_executor
    from relulab.sweeps.runner import run_sweep

    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, got '{device}'")
    runner = get_executor(executor, **(options or {}))
    # a remote executor resolves `auto` on each worker (the driver may have no GPU)
    per_worker = getattr(runner, "resolves_device", False)
    dev = device if per_worker else str(resolve_device(device))
    try:
        with terminate_raises():
            summary = run_sweep(spec, out, executor=runner, device=dev,
                                max_members=max_members, save_weights=save_weights,
                                progress=progress)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished batches are kept in {out}; run the same command "
                      "again to continue")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        runner.close()
    if summary.stale:
        console.print(f"note: {summary.stale} earlier run(s) of this sweep had been killed "
                      "(marked stale in the manifest); continuing where they stopped")
    console.print(f"{summary.cells} cells x {len(spec.seeds)} seeds: {summary.skipped} members "
                  f"already done, {summary.ran} run in {summary.batches} batches on {dev}"
                  f"{' (per worker)' if per_worker and dev == 'auto' else ''} "
                  f"({summary.seconds:.1f} s). Results: {out}/results")
    if summary.failed:
        _report_failures(summary.failed)


def _report_failures(failed: list[dict[str, Any]]) -> None:
    """Print the failed batches to stderr and exit 1 (a rerun of the command retries them)."""
    members = sum(f["members"] for f in failed)
    lines = [f"error: {len(failed)} batches ({members} members) failed; rerun the same "
             "command to retry them:"]
    lines += [f"  batch {f['batch_id']} ({f['members']} members of {', '.join(f['cells'])}, "
              f"{f['attempts']} attempts): {f['error']}" for f in failed[:10]]
    if len(failed) > 10:
        lines.append(f"  ... and {len(failed) - 10} more (see manifest.json)")
    print("\n".join(lines), file=sys.stderr)
    raise typer.Exit(code=1)


def _executor_options(executor: str, address: str | None, cpus_per_task: int | None,
                      gpus_per_task: float | None, retries: int | None) -> dict[str, Any]:
    given = {"address": address, "cpus_per_task": cpus_per_task,
             "gpus_per_task": gpus_per_task, "retries": retries}
    given = {k: v for k, v in given.items() if v is not None}
    if given and executor != "ray":
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags} only apply to --executor ray")
    return given


def _check_cells(spec: SweepSpec, executor: str, device: str, batch_members: int) -> None:
    """Validate every grid point before touching the folder; with a local executor, also that
    a batch fits this machine's memory (not a Ray worker's: a worker that runs out of memory
    is retried, then reported as a failed batch)."""
    from relulab.training.setup import check_memory

    cells = spec.cells()
    if executor == "ray":
        return
    dev = resolve_device(device)
    for cell in cells:
        check_memory(cell.config, batch_members, dev)


@user_errors
def sweep(
    preset: Annotated[str | None, typer.Argument(
        help="config preset (see `relulab presets`; synthetic ones), or --config")] = None,
    out: Annotated[Path | None, typer.Option(help="results folder (resumed if it exists)")
                   ] = None,
    config: Annotated[Path | None, typer.Option(help=CONFIG_HELP)] = None,
    grid: Annotated[list[str] | None, typer.Option(
        help="grid axis key=v1,v2,... (repeatable; list values use /, e.g. "
             "widths=50/75,10/15)")] = None,
    seeds: Annotated[str, typer.Option(
        help="seeds per cell: N (0..N-1), A:B (A..B-1) or a list 1,5,9")] = "4",
    set_: SetOpt = None,
    executor: Annotated[str, typer.Option(
        help="where batches run: local (this process) | ray (one Ray task per batch)")
    ] = "local",
    address: Annotated[str | None, typer.Option(
        help="ray: cluster to join, auto | HOST:PORT | ray://HOST:PORT "
             "(default: start a local Ray instance sized to this machine)")] = None,
    cpus_per_task: Annotated[int | None, typer.Option(
        help="ray: CPUs (torch threads) per batch (default 1)")] = None,
    gpus_per_task: Annotated[float | None, typer.Option(
        help="ray: GPUs per batch (default 1 if the cluster has GPUs, else 0)")] = None,
    retries: Annotated[int | None, typer.Option(
        help="ray: resubmissions of a batch whose worker died (default 2)")] = None,
    device: DeviceOpt = "auto",
    max_members: Annotated[int, typer.Option(
        help="most (cell, seed) members per batched run (a kill loses at most one)")
    ] = DEFAULT_MAX_MEMBERS,
    save_weights: Annotated[bool, typer.Option(
        help="also write final weights as safetensors")] = False,
    progress: ProgressOpt = True,
) -> None:
    """Run (or resume) PRESET (or --config FILE) over a grid; every (cell, seed) is run
    once, in batches."""
    entry, base, items = base_config(preset, config, set_, default=None)
    if base is None:
        get_preset(entry.name)  # a real-data preset: says which commands take it
    if out is None:
        raise ConfigError("--out FOLDER is required")
    seed_list = parse_seeds(seeds)
    overrides = parse_set_args(items)
    cfg = with_overrides(base, dict(overrides))
    spec = SweepSpec(entry.name, cfg, parse_grid(grid or []), seed_list,
                     tuple(overrides.items()))
    options = _executor_options(executor, address, cpus_per_task, gpus_per_task, retries)
    _check_cells(spec, executor, device, min(len(seed_list), max_members))
    _run(spec, out, executor, device, max_members, save_weights, progress, options)


@user_errors
def query(
    folder: FolderArg,
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the views results, recovery")],
    to: Annotated[Path | None, typer.Option(help="write all rows to a .csv/.parquet")] = None,
    limit: Annotated[int, typer.Option(help="rows printed (0: all; --to FILE writes all)")
                     ] = QUERY_ROWS,
    fmt: FormatOpt = "auto",
) -> None:
    """Run SQL over a sweep's Parquet files (views `results` and `recovery`)."""
    from relulab.results.query import export_query
    from relulab.results.query import query as run_query

    if to is not None:
        path = export_query(folder, sql, to)
        console.print(f"wrote {path}")
        return
    result = run_query(folder, sql)
    shown = result if limit <= 0 else result.slice(0, limit)
    emit_table(result.column_names, [list(r.values()) for r in shown.to_pylist()], None, fmt)
    if shown.num_rows < result.num_rows:
        note(f"{result.num_rows} rows, first {shown.num_rows} shown (--limit 0 or --to FILE "
             "for all)", fmt)


@user_errors
def plot(
    folder: FolderArg,
    out: Annotated[Path | None, typer.Option(help="figure folder [FOLDER/figures]")] = None,
) -> None:
    """Draw the sweep's figures as PNG and SVG."""
    from relulab.plots import plot_all
    from relulab.results.query import results_dir

    results_dir(folder)
    for path in plot_all(folder, out):
        console.print(str(path))


@user_errors
def report(
    folder: Annotated[Path, typer.Argument(
        help="sweep results folder, or a `relulab validate --out` folder")],
    out: Annotated[Path | None, typer.Option(help="HTML file [FOLDER/report.html]")] = None,
) -> None:
    """Write one self-contained HTML report (figures embedded; a "Fidelity" section when
    FOLDER holds a `relulab validate` result)."""
    from relulab.report import build_report

    console.print(f"report: {build_report(folder, out)}")


@user_errors
def demo(
    out: Annotated[Path, typer.Option(help="results folder")] = Path("runs/demo"),
    seeds: Annotated[int, typer.Option(help="seeds per cell")] = DEMO_SWEEP.seeds,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="extra override for every cell, key=value")] = None,
    device: DeviceOpt = "auto",
    progress: ProgressOpt = True,
) -> None:
    from relulab.report import build_report

    t0 = time.perf_counter()
    spec = DEMO_SWEEP.spec(seeds, set_ or [])
    console.print(f"demo sweep: preset {spec.preset}, grid {' '.join(DEMO_SWEEP.grid)}, "
                  f"{len(spec.seeds)} seeds -> {out}")
    _run(spec, out, "local", device, DEFAULT_MAX_MEMBERS, False, progress)
    path = build_report(out)
    print_headline(out, "headline numbers (end of training)")
    console.print(f"report: {path.resolve()}")
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s")


def register(app: typer.Typer) -> None:
    for command in (sweep, query, plot, report):
        app.command()(command)
    app.command(help=f"{DEMO_SWEEP.summary}; then its report.")(demo)
