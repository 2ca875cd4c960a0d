"""A results folder, a ``train --out`` run or a sweep alike, as pandas DataFrames."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from relulab.results.query import connect, read_query, results_dir
from relulab.results.schema import SCALAR_COLUMNS
from relulab.results.store import SweepStore

_SCALAR_KEYS = ("cell", "config_hash", "preset", "seed", "epoch", "step", "final")


class Results:
    """The results under ``root``: tidy DataFrames whose columns are the documented Parquet
    schema (``docs/schema.md``).

    - :attr:`layers`: one row per (cell, seed, hidden layer, recorded epoch), every column;
    - :attr:`scalars`: one row per (cell, seed, recorded epoch): losses, lr, divergence;
    - :attr:`recovery`: per (cell, layer, epoch, teacher node), the share of seeds that
      recovered the node (best student correlation above 0.95);
    - :meth:`sql`: any read query on the views ``results`` and ``recovery`` (DuckDB, the
      sandbox of ``relulab query``);
    - :meth:`report` and :meth:`figures`: the HTML report and the figures of ``relulab report``.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        results_dir(self.root)  # StoreError (one line) when the folder holds no results

    def sql(self, query: str) -> Any:
        """The result of one read query as a DataFrame (views ``results``, ``recovery``)."""
        con = connect(self.root)
        try:
            return read_query(con, query).df()
        finally:
            con.close()

    @property
    def layers(self) -> Any:
        return self.sql("SELECT * FROM results ORDER BY cell, seed, layer, epoch")

    @property
    def scalars(self) -> Any:
        cols = ", ".join([*_SCALAR_KEYS, *SCALAR_COLUMNS])
        return self.sql(f"SELECT DISTINCT {cols} FROM results ORDER BY cell, seed, epoch")

    @property
    def recovery(self) -> Any:
        return self.sql("SELECT * FROM recovery ORDER BY cell, layer, epoch, teacher_node")

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return SweepStore(self.root).read_manifest()

    @cached_property
    def cells(self) -> dict[str, dict[str, Any]]:
        """``{cell name: {"name", "point", "config_hash", "config"}}``."""
        return SweepStore(self.root).load_cells()

    def config(self, cell: str | None = None) -> Any:
        """The :class:`relulab.config.RunConfig` of ``cell`` (the only one when None)."""
        from relulab.config import config_from_dict

        return config_from_dict(self._cell(cell)["config"])

    def _cell(self, cell: str | None) -> dict[str, Any]:
        if cell is None:
            if len(self.cells) != 1:
                raise ValueError(f"{self.root} holds {len(self.cells)} cells; name one of "
                                 f"{sorted(self.cells)}")
            return next(iter(self.cells.values()))
        if cell not in self.cells:
            raise ValueError(f"no cell '{cell}' in {self.root} (cells: {sorted(self.cells)})")
        return self.cells[cell]

    def report(self, out: str | os.PathLike | None = None) -> Path:
        """Write the HTML report (``root/report.html`` by default); returns its path."""
        from relulab.report import build_report

        return build_report(self.root, out)

    def figures(self, out: str | os.PathLike | None = None) -> list[Path]:
        """Draw the standard figures into ``out`` (``root/figures``); returns their paths."""
        from relulab.plots import plot_all

        return list(plot_all(self.root, out))

    def __repr__(self) -> str:
        n = self.sql("SELECT count(*) AS rows, count(DISTINCT cell) AS cells, "
                     "count(DISTINCT seed) AS seeds, max(epoch) AS epochs FROM results")
        r = n.iloc[0]
        return (f"Results('{self.root}': {r['cells']} cell(s) x {r['seeds']} seed(s), "
                f"{r['epochs']} epochs, {r['rows']} rows)")


def load(path: str | os.PathLike) -> Results:
    """Open a results folder: a ``relulab train --out`` run or a ``relulab sweep`` folder."""
    return Results(path)

