"""MkDocs hooks (``mkdocs.yml: hooks``): pages generated from the code, never hand-copied.

- ``<!-- relulab:cli -->`` becomes the CLI reference, rendered by typer's own Markdown generator
  (``typer.cli.get_docs_for_click``) from ``relulab.cli.app``: every command, argument, option,
  default and help string.
- ``<!-- relulab:config-columns -->`` becomes the table of config columns of a results file
  (``relulab.schema.config_column_types``: one ``section_field`` column per RunConfig field).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

CLI_MARKER = "<!-- relulab:cli -->"
CONFIG_MARKER = "<!-- relulab:config-columns -->"


def cli_reference() -> str:
    """Markdown of every ``relulab`` command (headings start at level 2)."""
    import typer
    import typer.cli

    from relulab.cli import app

    command = typer.main.get_command(app)
    text = typer.cli.get_docs_for_click(obj=command, ctx=typer.Context(command), name="relulab",
                                        title="relulab")
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def config_columns() -> str:
    """A Markdown table: column, type, the config field and its default."""
    from relulab.config import RunConfig, flatten
    from relulab.schema import config_column_types

    defaults = flatten(dataclasses.asdict(RunConfig()))
    rows = ["| column | type | config field (`--set` key) | default |", "|---|---|---|---|"]
    for column, tp in config_column_types().items():
        key = next(k for k in defaults if k.replace(".", "_") == column)
        rows.append(f"| `{column}` | {_type_name(tp)} | `{key}` | `{defaults[key]!r}` |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_columns())
    return markdown
