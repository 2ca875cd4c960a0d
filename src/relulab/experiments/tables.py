"""Summary tables of the experiments (torch-free: DuckDB over a part's results folder).

Per cell (named by its grid point): the success rate of every teacher node (share of seeds in
which some student has eval correlation > 0.95 with it) after ``early`` epochs and at the end,
and the epoch at which each node is first recovered (median over the seeds that recover it).
The L-shape table splits student nodes by their best TRAIN correlation.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from typing import Any

from relulab.results.query import connect
from relulab.results.schema import RECOVERY_THRESHOLD

EARLY_EPOCH = 5  # the paper's dotted curves


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        head = f"| {' | '.join(self.columns)} |\n|{'---|' * len(self.columns)}\n"
        return f"**{self.title}**\n\n" + head + "".join(
            f"| {' | '.join(r)} |\n" for r in self.rows)


def _f(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def node_stats(root: str | os.PathLike, early: int = EARLY_EPOCH) -> dict[str, dict[str, Any]]:
    """Per cell of layer 1: ``seeds``, ``early``/``end`` rates per teacher node (``early`` None
    when epoch ``early`` was never recorded), ``first`` (per node, the list of first-recovery
    epochs of the seeds that recover it)."""
    con = connect(root)
    try:
        rows = con.execute("""
            SELECT cell, seed, epoch, final, unnest(teacher_best_corr) AS c,
                   unnest(range(len(teacher_best_corr))) AS j
            FROM results WHERE layer = 1 ORDER BY cell, seed, j, epoch""").fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, Any]] = {}
    for cell, seed, epoch, final, c, j in rows:
        e = out.setdefault(cell, {"seeds": set(), "early": {}, "end": {}, "first": {}})
        e["seeds"].add(seed)
        hit = c is not None and not math.isnan(c) and c > RECOVERY_THRESHOLD
        if epoch == early:
            e["early"].setdefault(j, []).append(hit)
        if final:
            e["end"].setdefault(j, []).append(hit)
        if hit and (seed, j) not in e.setdefault("_seen", set()):
            e["_seen"].add((seed, j))
            e["first"].setdefault(j, []).append(epoch)
    for e in out.values():
        m = len(e["end"])
        e["seeds"] = len(e["seeds"])
        e["early"] = [sum(e["early"].get(j, [])) / e["seeds"] for j in range(m)] \
            if e["early"] else None
        e["end"] = [sum(e["end"][j]) / e["seeds"] for j in range(m)]
        e["first"] = [e["first"].get(j, []) for j in range(m)]
        e.pop("_seen", None)
    return out


def _picks(m: int) -> list[int]:
    return sorted({0, m // 4, m // 2, (3 * m) // 4, m - 1}) if m > 5 else list(range(m))


def recovery_table(root: str | os.PathLike, title: str, early: int = EARLY_EPOCH) -> Table:
    """Rates per cell: mean @early / end, nodes >= 50 %, picked nodes' rates and median
    first-recovery epochs (never: –, with how many seeds recover the node). An early epoch
    that was never recorded (a run shorter than ``early`` epochs) shows as –."""
    stats = node_stats(root, early)
    rows = []
    for cell, e in stats.items():
        m = len(e["end"])
        picks = _picks(m)
        mean = [_f(sum(r) / m, 3) if r is not None else "–" for r in (e["early"], e["end"])]
        half = [str(sum(x >= 0.5 for x in r)) if r is not None else "–"
                for r in (e["early"], e["end"])]
        first = [f"{statistics.median(e['first'][j]):g} ({len(e['first'][j])})"
                 if e["first"][j] else "– (0)" for j in picks]
        rows.append([cell, str(e["seeds"]), f"{mean[0]} / {mean[1]}",
                     f"{half[0]} / {half[1]} of {m}",
                     ", ".join(f"{e['end'][j]:.2f}" for j in picks),
                     ", ".join(first)])
    picks_label = ", ".join(map(str, _picks(len(next(iter(stats.values()))["end"])))) \
        if stats else ""
    return Table(title, ["cell", "seeds", f"mean rate @{early} / end",
                         f"nodes ≥ 50 % @{early} / end", f"rate @end, nodes {picks_label}",
                         "first-recovery epoch, median (seeds)"], rows)


def lshape_table(root: str | os.PathLike, title: str, y: str = "student_fanout_norm",
                 threshold: float = 0.9) -> Table:
    """Per cell and layer, student nodes split by best train correlation > ``threshold``
    (eval if no train correlation was recorded): count and mean ``y`` of each group."""
    con = connect(root)
    try:
        rows = con.execute(f"""
            WITH u AS (SELECT cell, layer,
                unnest(coalesce(student_best_train_corr, student_best_corr)) AS x,
                unnest({y}) AS y FROM results WHERE final)
            SELECT cell, layer, count(*) FILTER (WHERE x > {threshold}),
                   avg(y) FILTER (WHERE x > {threshold}), count(*) FILTER (WHERE x <= {threshold}),
                   avg(y) FILTER (WHERE x <= {threshold}), median(y) FILTER (WHERE x <= {threshold})
            FROM u GROUP BY cell, layer ORDER BY cell, layer""").fetchall()
    finally:
        con.close()
    return Table(title, ["cell", "layer", f"nodes corr > {threshold}", "mean y", "other nodes",
                         "mean y", "median y"],
                 [[c, str(layer), str(n1), _f(y1, 3), str(n0), _f(y0, 3), _f(med, 3)]
                  for c, layer, n1, y1, n0, y0, med in rows])


def summarize(experiment: str, parts: dict[str, str | os.PathLike]) -> list[Table]:
    """The tables of ``experiment`` from its parts' folders ``{part name: folder}``."""
    tables = []
    for part, root in parts.items():
        if part == "multilayer":
            tables.append(lshape_table(root, f"{experiment} / {part}: sqrt(diag E[beta]) of "
                                             "student nodes by best train correlation",
                                       y="student_beta"))
            continue
        tables.append(recovery_table(root, f"{experiment} / {part}: success rate per teacher "
                                           "node (eval corr > 0.95)"))
        if experiment == "lshape":
            tables.append(lshape_table(root, f"{experiment} / {part}: fan-out norm of student "
                                             "nodes by best train correlation"))
    return tables
