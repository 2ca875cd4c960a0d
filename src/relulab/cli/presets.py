"""``relulab presets``: list the presets; ``presets show NAME``: one preset's full config as
JSON; ``presets keys``: every ``--set`` key with its type and default."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from typing import Annotated, Any

import typer

from relulab.cli.common import user_errors
from relulab.cli.output import FormatOpt, emit_table, resolve_format
from relulab.config import ALIASES, RunConfig
from relulab.config.presets import REGISTRY, find_preset

presets_app = typer.Typer(help="The presets: list them (no command), `show NAME`, `keys`.")

SECTIONS = ("teacher", "student", "data", "optim", "stats")


@presets_app.callback(invoke_without_command=True)
@user_errors
def presets(ctx: typer.Context, fmt: FormatOpt = "auto") -> None:
    """List the presets: name, kind, the commands that take it, summary."""
    if ctx.invoked_subcommand is not None:
        return
    rows = [[p.name, p.kind, "train only" if p.commands == ("train",) else
             ", ".join(p.commands), p.summary] for p in REGISTRY.values()]
    if resolve_format(fmt) == "table":  # one line each, summaries unbroken
        for name, kind, commands, summary in rows:
            typer.echo(f"{name:20s} {kind:9s} {commands:13s} {summary}")
        return
    emit_table(["name", "kind", "commands", "summary"], rows, None, fmt)


@presets_app.command()
@user_errors
def show(name: Annotated[str, typer.Argument(help="preset name")]) -> None:
    """Print the preset's full config as JSON (a run's config.json; usable as --config)."""
    typer.echo(json.dumps(find_preset(name).full_config().to_dict(), indent=2))


def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " | ".join(map(str, args))
    if origin is tuple:
        inner = args[0] if args and args[0] is not tuple else tp
        if typing.get_origin(inner) is tuple:
            return "list of epoch:value"
        return f"list of {_type_name(inner)}"
    if args and type(None) in args:
        return _type_name(next(a for a in args if a is not type(None))) + " | none"
    return getattr(tp, "__name__", str(tp))


def key_rows() -> list[list[str]]:
    """``[key, aliases, type, default]`` of every ``--set`` key, in config order."""
    default = RunConfig()
    aliases: dict[str, list[str]] = {}
    for alias, path in ALIASES.items():
        aliases.setdefault(path, []).append(alias)
    rows = []
    for f in fields(RunConfig):
        owners = [(f"{f.name}.", getattr(default, f.name))] if f.name in SECTIONS else \
            [("", default)]
        for prefix, obj in owners:
            hints = typing.get_type_hints(type(obj))
            names = [g.name for g in fields(obj)] if prefix else [f.name]
            for name in names:
                value = getattr(obj, name)
                if isinstance(value, tuple):
                    value = ",".join(":".join(map(str, v)) if isinstance(v, tuple) else str(v)
                                     for v in value)
                rows.append([prefix + name, ",".join(aliases.get(prefix + name, [])),
                             _type_name(hints[name]), "none" if value is None else str(value)])
    return rows


@presets_app.command()
@user_errors
def keys(fmt: FormatOpt = "auto") -> None:
    """List every --set key (dotted path), its aliases, type and default (of RunConfig(); a
    preset's own values: `relulab presets show NAME`). real-* presets also take
    real.<field> keys."""
    emit_table(["key", "aliases", "type", "default"], key_rows(), "--set keys", fmt,
               justify="left")


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
