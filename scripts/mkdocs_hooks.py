"""MkDocs hooks (``mkdocs.yml: hooks``): pages generated from the code, never hand-copied.

- ``<!-- relulab:cli -->`` becomes the CLI reference, rendered by typer's own Markdown generator
  (``typer.cli.get_docs_for_click``) from ``relulab.cli.app``: every command, argument, option,
  default and help string.
- ``<!-- relulab:config-columns -->`` becomes the table of config columns of a results file
  (``relulab.results.schema.config_column_types``: one ``section_field`` column per RunConfig
  field).
- A top-level module or package of ``relulab`` without a written ``docs/api/NAME.md`` gets a
  generated page (``::: relulab.NAME``) and a line in the API section of the nav, so a new module
  is in the reference from its first build (write the page to add prose).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

CLI_MARKER = "<!-- relulab:cli -->"
CONFIG_MARKER = "<!-- relulab:config-columns -->"
API_SECTION = "API"  # nav section holding the api/*.md pages
API_PAGE = "# `relulab.{name}`\n\n::: relulab.{name}\n"


def components() -> list[str]:
    """Top-level modules and packages of relulab (what tests/test_layers.py puts in layers)."""
    import relulab

    src = Path(relulab.__file__).parent
    return sorted(p.stem for p in src.iterdir()
                  if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists())


def missing_api_pages(docs_dir: str | Path) -> list[str]:
    """Modules without a written ``docs/api/NAME.md``."""
    return [n for n in components() if not (Path(docs_dir) / "api" / f"{n}.md").exists()]


def _api_section(nav: list) -> list | None:
    for item in nav:
        if isinstance(item, dict):
            for key, value in item.items():
                if key == API_SECTION and isinstance(value, list):
                    return value
                if isinstance(value, list) and (found := _api_section(value)) is not None:
                    return found
    return None


def on_config(config: Any, **_: Any) -> Any:
    section = _api_section(config["nav"] or [])
    if section is not None:
        section += [{name: f"api/{name}.md"} for name in missing_api_pages(config["docs_dir"])]
    return config


def on_files(files: Any, config: Any, **_: Any) -> Any:
    from mkdocs.structure.files import File

    for name in missing_api_pages(config["docs_dir"]):
        files.append(File.generated(config, f"api/{name}.md", content=API_PAGE.format(name=name)))
    return files


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
    from relulab.results.schema import config_column_types

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
