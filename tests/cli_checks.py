"""Checks shared by the CLI tests of several folders (``tests/`` is on sys.path through its
conftest.py under pytest's default import mode)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from relulab.cli import app


def assert_train_refuses(out: Path, args: list[str], msg: str) -> None:
    """``relulab train --out OUT ARGS`` exits 2 with one ``error:`` line containing ``msg``
    and writes nothing."""
    res = CliRunner().invoke(app, ["train", "--out", str(out), "--no-progress", *args])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], res.output
    assert not out.exists()
