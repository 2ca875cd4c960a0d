"""``relulab validate``: the fidelity suite (relulab vs the original code and the papers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from relulab.cli.common import console, resolve_device, user_errors
from relulab.fidelity.claims import Claim
from relulab.fidelity.suite import CHECKS, MODES, run_validate
from relulab.results.store import ensure_dir

_FULL, _QUICK = MODES["full"], MODES["quick"]
MODES_HELP = (f"full: more seeds (two-layer {_FULL.two_layer_seeds} per p, deep FC "
              f"{_FULL.luck_seeds}, long Thm 5 run); quick (default, CI): "
              f"{_QUICK.two_layer_seeds} / {_QUICK.luck_seeds} / short")


def claims_table(title: str, claims: list[Claim]) -> Table:
    table = Table(title=title, show_lines=False)
    for col in ("group", "claim", "relulab", "reference", "statistic", "criterion", "verdict"):
        table.add_column(col, overflow="fold")
    for c in claims:
        verdict = "[green]PASS[/green]" if c.passed else "[bold red]FAIL[/bold red]"
        table.add_row(c.group, c.name, c.relulab, c.reference, f"{c.statistic} = {c.value:.3g}",
                      c.criterion, verdict)
    return table


@user_errors
def validate(
    full: Annotated[bool, typer.Option("--full/--quick", help=MODES_HELP)] = False,
    out: Annotated[Path | None, typer.Option(
        help="write FOLDER/validate.json (then `relulab report FOLDER`)")] = None,
    only: Annotated[list[str] | None, typer.Option(
        help=f"run only these checks (repeatable): {', '.join(CHECKS)}")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    progress: Annotated[bool, typer.Option(help="show progress bars")] = False,
) -> None:
    """Run relulab at the settings of every reference of the original code and of the
    papers' claims; print relulab's value, the reference, the test and PASS/FAIL per
    claim. Exit 1 if any claim fails."""
    dev = resolve_device(device)
    if out is not None:
        ensure_dir(out)  # fail before the work, not after it

    def show(name: str, claims: list[Claim], seconds: float) -> None:
        ok = sum(c.passed for c in claims)
        console.print(claims_table(f"{name}: {ok}/{len(claims)} pass ({seconds:.0f} s)",
                                   claims))

    claims = run_validate("full" if full else "quick", checks=tuple(only or CHECKS),
                          device=str(dev), progress=progress, out=out, on_check=show)
    failed = [c for c in claims if not c.passed]
    console.print(f"{len(claims) - len(failed)} of {len(claims)} claims pass"
                  + (f"; written to {out}/validate.json" if out is not None else ""))
    if failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command()(validate)
