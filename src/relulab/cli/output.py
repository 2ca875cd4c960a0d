"""Tables for people and for pipes: one helper every command prints its tables through.

``--format auto`` (the default) draws a rich table on a terminal and writes CSV when stdout is
not one (a pipe, a file), so ``relulab query ... | cat`` never wraps a number across lines.
In the machine formats (csv, tsv, json) stdout holds only data: a table's title goes to stderr
as ``# title``; several tables are separated by a blank line (csv, tsv) or are one JSON
document per line (json: a list of row objects).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

FORMATS = ("auto", "table", "csv", "tsv", "json")
FormatOpt = Annotated[str, typer.Option(
    "--format", help="table | csv | tsv | json (default: a table on a terminal, CSV in a "
                     "pipe)")]

_last: dict[str, Any] = {"stdout": None}  # the stream the last machine-format table went to


def resolve_format(fmt: str) -> str:
    """``auto`` -> ``table`` when stdout is a terminal, else ``csv``; others are checked."""
    from relulab.config import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    if fmt != "auto":
        return fmt
    return "table" if sys.stdout.isatty() else "csv"


def display(value: Any, floatfmt: str = ".6g") -> str:
    """A cell as a rich table shows it: floats rounded, long lists cut."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, floatfmt)
    if isinstance(value, list | tuple):
        items = [display(v, floatfmt) for v in value[:6]]
        return "[" + ", ".join(items) + (", …" if len(value) > 6 else "") + "]"
    return "" if value is None else str(value)


def _plain(value: Any) -> str:
    """A cell in CSV/TSV: full precision, lists as JSON, None empty."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, list | tuple):
        return json.dumps([_jsonable(v) for v in value])
    return "" if value is None else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def emit_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
               fmt: str = "auto", floatfmt: str = ".6g", justify: str = "right") -> None:
    """Print one table in ``fmt`` (see the module docstring); ``floatfmt`` rounds floats in the
    drawn table only (the machine formats keep every digit)."""
    fmt = resolve_format(fmt)
    if fmt == "table":
        table = Table(title=title)
        for i, col in enumerate(columns):
            table.add_column(col, justify="left" if i == 0 else justify,  # type: ignore[arg-type]
                             no_wrap=True)
        for row in rows:
            table.add_row(*[display(v, floatfmt) for v in row])
        # a table forced into a pipe is not cut to rich's default 80 columns
        Console(width=None if sys.stdout.isatty() else 10_000).print(table)
        return
    if title:
        print(f"# {title}", file=sys.stderr)
    if fmt == "json":
        records = [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        print(json.dumps(records))
        return
    if _last["stdout"] is sys.stdout:  # a second table on the same stream
        print()
    _last["stdout"] = sys.stdout
    writer = csv.writer(sys.stdout, delimiter="\t" if fmt == "tsv" else ",",
                        lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_plain(v) for v in row] for row in rows)
    sys.stdout.flush()


def note(text: str, fmt: str = "auto") -> None:
    """A message about the output: on stdout next to a drawn table; on stderr in the machine
    formats, so stdout stays data."""
    if resolve_format(fmt) == "table":
        Console().print(text, markup=False, highlight=False)
    else:
        print(text, file=sys.stderr)


def print_rho_summary(summary: list[dict[str, Any]], fmt: str = "auto") -> None:
    """The per-layer rho-bar (mean and std over seeds) of the last statistics
    (``StatsRecorder.summary()``)."""
    if not summary:
        note("no statistics recorded", fmt)
        return
    keys = ("layer", "m", "n", "rho_greedy_mean", "rho_greedy_std", "rho_hungarian_mean",
            "rho_hungarian_std", "seeds")
    emit_table(["layer", "m", "n", "ρ̄ greedy", "± std", "ρ̄ hungarian", "± std", "seeds"]
               if resolve_format(fmt) == "table" else list(keys),
               [[e[k] for k in keys] for e in summary],
               f"ρ̄ per layer at epoch {summary[0]['epoch']} (mean ± std over seeds)", fmt,
               floatfmt=".4f")
