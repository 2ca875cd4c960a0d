"""The documentation site: every module has an API page, the schema page names every results
column, the CLI reference is generated from the typer app, and ``mkdocs build --strict`` passes
(when the docs extra is installed)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import relulab
from relulab.cli import app
from relulab.schema import RESULT_COLUMNS, config_column_types

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = Path(relulab.__file__).parent


def hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts/mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def components() -> set[str]:
    return {p.stem for p in SRC.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}


def command_paths(cmd, prefix: str = "relulab") -> list[str]:
    """Every command path of typer's click tree (typer may vendor click: duck-typed)."""
    out = [prefix]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += command_paths(sub, f"{prefix} {name}")
    return out


def test_every_module_has_an_api_page_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in sorted(components()):
        page = DOCS / "api" / f"{name}.md"
        assert page.exists(), f"add docs/api/{name}.md with '::: relulab.{name}'"
        assert f"::: relulab.{name}" in page.read_text()
        assert f"api/{name}.md" in nav, f"add api/{name}.md to mkdocs.yml's nav"


def test_schema_page_names_every_result_column():
    text = (DOCS / "schema.md").read_text()
    missing = [c for c in RESULT_COLUMNS if f"| `{c}` |" not in text]
    assert not missing, f"document in docs/schema.md: {missing}"
    generated = hooks().config_columns()
    assert all(f"| `{c}` |" in generated for c in config_column_types())
    assert "| `optim_lr` | float | `optim.lr` | `0.01` |" in generated


def test_cli_reference_is_generated_from_the_typer_app():
    reference = hooks().cli_reference()
    paths = command_paths(typer.main.get_command(app))
    assert "relulab theory overlay" in paths and len(paths) > 10
    for path in paths[1:]:
        assert f"## `{path}`" in reference, path
    assert "--max-members" in reference  # options and their help strings come along
    page = hooks().on_page_markdown((DOCS / "cli.md").read_text())
    assert "<!-- relulab:" not in page and "## `relulab train`" in page


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("mkdocstrings") is None,
                    reason="docs extra not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "--site-dir", str(tmp_path / "site")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    site = tmp_path / "site"
    assert "relulab theory overlay" in (site / "cli.html").read_text()
    assert "relulab.engine.train_group" in (site / "api" / "engine.html").read_text()
    assert (site / "tutorials" / "luck-matters.html").exists()
