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


def run_rows(folder: Path, table: str = "layers") -> list[dict]:
    """The rows of a run folder (the one-cell sweep layout of ``train --out``): ``layers``,
    one per (seed, layer, recorded epoch) with every column, or ``scalars``, one per (seed,
    recorded epoch) with the identity and loss columns."""
    import pyarrow.parquet as pq

    rows = [r for path in sorted((Path(folder) / "results").glob("batch-*.parquet"))
            for r in pq.read_table(path).to_pylist()]
    rows.sort(key=lambda r: (r["seed"], r["epoch"], r["layer"]))
    if table == "layers":
        return rows
    keep = ("seed", "member", "epoch", "step", "lr", "train_loss", "eval_loss", "diverged")
    return [{k: r[k] for k in keep} for r in rows if r["layer"] == 1]
