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
from relulab.results.schema import RESULT_COLUMNS, config_column_types

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = Path(relulab.__file__).parent


def hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts/mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_paths(cmd, prefix: str = "relulab") -> list[str]:
    """Every command path of typer's click tree (typer may vendor click: duck-typed)."""
    out = [prefix]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += command_paths(sub, f"{prefix} {name}")
    return out


def test_written_api_pages_document_their_module_and_are_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    names = hooks().components()
    assert {"training", "theory", "cli", "experiments"} <= set(names)
    for page in (DOCS / "api").glob("*.md"):
        if page.stem != "index":
            assert page.stem in names and f"::: relulab.{page.stem}" in page.read_text()
            assert f"api/{page.stem}.md" in nav, f"add api/{page.stem}.md to mkdocs.yml's nav"


def test_a_module_without_a_page_gets_a_generated_one(tmp_path):
    h = hooks()
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "training.md").write_text("::: relulab.training")
    nav = [{"Home": "index.md"}, {"Reference": [{"API": [{"training": "api/training.md"}]}]}]
    config = h.on_config({"nav": nav, "docs_dir": str(tmp_path)})
    api = config["nav"][1]["Reference"][0]["API"]
    assert {"training": "api/training.md"} in api and {"theory": "api/theory.md"} in api
    assert len(api) == len(h.components())
    assert h.missing_api_pages(DOCS) == []  # this repository writes every page


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
    assert "relulab.training.engine.train_group" in (site / "api" / "training.html").read_text()
    assert (site / "tutorials" / "luck-matters.html").exists()
