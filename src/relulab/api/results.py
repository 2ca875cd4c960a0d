"""A results folder, a ``train --out`` run or a sweep alike, as pandas DataFrames."""

from __future__ import annotations

import json
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

    def nets(self, cell: str | None = None, which: str = "student") -> Any:
        """The final ``which`` nets (``"student"`` or ``"teacher"``) of ``cell``'s seeds as one
        :class:`~relulab.nets.networks.Net`, seed axis in the order of :meth:`seeds` (needs
        the weights: ``train --out`` writes them, ``sweep`` with ``--save-weights``)."""
        from safetensors import safe_open

        from relulab.nets.weights import net_from_weights

        name = self._cell(cell)["name"]
        found: dict[int, Any] = {}
        for path in sorted((self.root / "weights").glob("batch-*.safetensors")):
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
            net = net_from_weights(tensors, meta, which)
            for i, member in enumerate(json.loads(meta.get("members", "[]"))):
                if member["cell"] == name:
                    found[int(member["seed"])] = net.select([i])
        if not found:
            raise ValueError(f"no stored weights of cell '{name}' in {self.root} (a sweep "
                             "writes them with --save-weights)")
        from relulab.nets.networks import concat

        return concat([found[s] for s in sorted(found)])

    def seeds(self, cell: str | None = None) -> list[int]:
        """The seeds of ``cell`` that have results, in order."""
        name = self._cell(cell)["name"]
        q = f"SELECT DISTINCT seed FROM results WHERE cell = '{name.replace(chr(39), '')}'"
        return sorted(int(s) for s in self.sql(q)["seed"])

    def students(self, cell: str | None = None) -> list[Any]:
        """The trained students of ``cell`` as ``nn.Sequential`` modules, one per seed."""
        from relulab.nets import to_modules

        return to_modules(self.nets(cell, "student"))

    def teachers(self, cell: str | None = None) -> list[Any]:
        """The teachers of ``cell`` as ``nn.Sequential`` modules, one per seed."""
        from relulab.nets import to_modules

        return to_modules(self.nets(cell, "teacher"))

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

