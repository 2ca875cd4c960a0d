"""``relulab validate``: the fidelity suite (relulab vs the original code and the papers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from relulab.cli.common import console, resolve_device, user_errors
from relulab.cli.output import FormatOpt, emit_table, note, resolve_format
from relulab.config import ConfigError
from relulab.fidelity.claims import (
    AGREES,
    DIFFERS,
    INCONCLUSIVE,
    Claim,
    detectable_text,
    interval_text,
    margin_text,
    verdict_text,
)
from relulab.fidelity.suite import CHECKS, MIN_SEEDS, MODES, run_validate
from relulab.results.store import ensure_dir

_FULL, _QUICK = MODES["full"], MODES["quick"]
MODES_HELP = (f"full: enough seeds for conclusive rows (two-layer {_FULL.two_layer_seeds} per "
              f"p, deep FC {_FULL.luck_seeds}, long Thm 5 run); quick (default, CI): "
              f"{_QUICK.two_layer_seeds} / {_QUICK.luck_seeds} / short")
VERDICT_STYLE = {AGREES: "[green]agrees[/green]", DIFFERS: "[bold red]differs[/bold red]",
                 INCONCLUSIVE: "[yellow]inconclusive[/yellow]"}


def claims_table(title: str, claims: list[Claim]) -> Table:
    """One row per claim: values, test, difference with its 95 % interval, margin, the 80 %
    detectable difference and the verdict (with the seeds an inconclusive row needs)."""
    table = Table(title=title, show_lines=False)
    for col in ("group", "claim", "relulab", "reference", "statistic", "Δ [95 % CI]",
                "margin", "detect. (80 %)", "verdict"):
        table.add_column(col, overflow="fold")
    for c in claims:
        style = VERDICT_STYLE.get(c.verdict, c.verdict)
        verdict = verdict_text(c).replace(c.verdict, style, 1)
        table.add_row(c.group, c.name, c.relulab, c.reference, f"{c.statistic} = {c.value:.3g}",
                      interval_text(c), margin_text(c), detectable_text(c), verdict)
    return table


PLAIN_COLUMNS = ("group", "claim", "relulab", "reference", "statistic", "value", "difference",
                 "interval", "margin", "detectable", "verdict")


def plain_row(c: Claim) -> list:
    """A claim as the machine formats (``--format csv|tsv|json``) write it: numbers as numbers."""
    return [c.group, c.name, c.relulab, c.reference, c.statistic, c.value,
            c.difference, interval_text(c), margin_text(c),
            detectable_text(c), c.verdict]


def verdict_counts(claims: list[Claim]) -> str:
    """``"40 agree, 0 differ, 2 inconclusive"``."""
    n = {v: sum(c.verdict == v for c in claims) for v in (AGREES, DIFFERS, INCONCLUSIVE)}
    return f"{n[AGREES]} agree, {n[DIFFERS]} differ, {n[INCONCLUSIVE]} inconclusive"


@user_errors
def validate(
    full: Annotated[bool, typer.Option("--full/--quick", help=MODES_HELP)] = False,
    out: Annotated[Path | None, typer.Option(
        help="write FOLDER/validate.json (then `relulab report FOLDER`)")] = None,
    only: Annotated[list[str] | None, typer.Option(
        help=f"run only these checks (repeatable): {', '.join(CHECKS)}")] = None,
    seeds: Annotated[int | None, typer.Option(
        help=f"relulab seeds of the two-layer (per p) and deep-FC checks (>= {MIN_SEEDS}; "
             "default: the mode's)")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    progress: Annotated[bool, typer.Option(help="show progress bars")] = False,
    fmt: FormatOpt = "auto",
) -> None:
    """Run relulab at the settings of every reference of the original code and of the
    papers' claims; print per claim relulab's value, the reference, the test, the difference
    with its 95 % interval, the equivalence margin, the smallest difference the test detects
    with 80 % power and the verdict: agrees (interval inside the margin), differs (the test
    rejects) or inconclusive (too few seeds). Exit 1 if any claim differs."""
    if seeds is not None and seeds < MIN_SEEDS:
        raise ConfigError(f"--seeds must be >= {MIN_SEEDS}, got {seeds}")
    dev = resolve_device(device)
    if out is not None:
        ensure_dir(out)  # fail before the work, not after it

    drawn = resolve_format(fmt) == "table"

    def show(name: str, claims: list[Claim], seconds: float) -> None:
        title = f"{name}: {verdict_counts(claims)} ({seconds:.0f} s)"
        if drawn:
            console.print(claims_table(title, claims))
        else:
            emit_table(PLAIN_COLUMNS, [plain_row(c) for c in claims], title, fmt)
        for c in claims:
            if c.note:
                note(f"  {c.group} / {c.name}: {c.note}", fmt)

    claims = run_validate("full" if full else "quick", checks=tuple(only or CHECKS),
                          device=str(dev), seeds=seeds, progress=progress, out=out,
                          on_check=show)
    failed = [c for c in claims if c.verdict == DIFFERS]
    note(f"{len(claims)} claims: {verdict_counts(claims)}"
         + (f"; written to {out}/validate.json" if out is not None else ""), fmt)
    if failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command()(validate)
