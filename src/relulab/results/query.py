"""DuckDB over a sweep's results folder: views ``results`` and ``recovery``, queries, exports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from relulab.results.schema import RECOVERY_THRESHOLD
from relulab.results.store import BATCH_GLOB, StoreError, SweepStore, atomic_write, ensure_dir

# The recovery rate of relulab.metrics.recovery_rate in SQL: per teacher node, the share of
# seeds whose best student correlation exceeds the threshold, NaN (diverged) seeds left out.
RECOVERY_SQL = """
SELECT cell, config_hash, layer, epoch, bool_or(final) AS final, teacher_node,
       count(*) FILTER (WHERE NOT isnan(corr)) AS seeds,
       avg(CASE WHEN corr > {threshold} THEN 1.0 ELSE 0.0 END) FILTER (WHERE NOT isnan(corr))
         AS rate
FROM (SELECT cell, config_hash, layer, epoch, final, unnest(teacher_best_corr) AS corr,
             unnest(range(len(teacher_best_corr))) AS teacher_node FROM results)
GROUP BY cell, config_hash, layer, epoch, teacher_node
"""


def results_dir(root: str | os.PathLike) -> Path:
    """The results folder of sweep ``root`` (StoreError when there are no results)."""
    p = Path(root)
    if not p.exists():
        raise StoreError(f"'{p}' does not exist")
    if not p.is_dir():
        raise StoreError(f"'{p}' is not a directory")
    if not SweepStore(p).batch_files():
        raise StoreError(f"no sweep results in '{p}' (expected {p}/results/{BATCH_GLOB})")
    return p / "results"


def connect(root: str | os.PathLike, threshold: float = RECOVERY_THRESHOLD) -> Any:
    """An in-memory DuckDB connection with views over the sweep's Parquet files:
    ``results`` (one row per cell, seed, layer, epoch) and ``recovery`` (success rate over seeds
    per cell, layer, epoch and teacher node; NaN correlations of diverged seeds left out)."""
    import duckdb

    folder = results_dir(root)
    pattern = str(folder / BATCH_GLOB).replace("'", "''")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW results AS SELECT * FROM read_parquet('{pattern}', "
                "union_by_name=true)")
    con.execute(f"CREATE VIEW recovery AS {RECOVERY_SQL.format(threshold=float(threshold))}")
    # sandbox: the connection sees only this results folder, and cannot be reconfigured
    allowed = str(folder.resolve()).replace("'", "''") + os.sep
    con.execute(f"SET allowed_directories = ['{allowed}']")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def read_query(con: Any, sql: str) -> Any:
    """The relation of ``sql`` on ``con`` if it is ONE read query (SELECT / WITH ... SELECT /
    VALUES); StoreError otherwise (COPY, ATTACH, CREATE, SET, several statements, ...)."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {str(exc).splitlines()[0]}") from None
    kinds = [st.type.name for st in statements]
    if kinds != ["SELECT"]:
        got = ", ".join(kinds) or "no statement"
        raise StoreError(f"only one read query (SELECT ...) is allowed, got {got}")
    return con.sql(sql)


def query(root: str | os.PathLike, sql: str) -> pa.Table:
    """Run ``sql`` over the views of :func:`connect`; StoreError on a failing query."""
    import duckdb

    con = connect(root)
    try:
        rel = read_query(con, sql)
        # duckdb >= 2 names it to_arrow_table, 1.x arrow
        return (getattr(rel, "to_arrow_table", None) or rel.arrow)()
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def export_query(root: str | os.PathLike, sql: str, path: str | os.PathLike) -> Path:
    """Write the result of ``sql`` to ``path`` (``.csv`` or ``.parquet``) atomically."""
    import duckdb

    target = Path(path)
    fmt = {".csv": "csv", ".parquet": "parquet"}.get(target.suffix.lower())
    if fmt is None:
        raise StoreError(f"--to '{target}': use a .csv or .parquet file name")
    if target.is_dir():
        raise StoreError(f"--to '{target}' is a directory")
    ensure_dir(target.parent if str(target.parent) else ".")
    table = query(root, sql)  # the user's SQL runs only in the sandboxed connection
    con = duckdb.connect()  # runs no user SQL: writes the result table to the temp file

    def write(tmp: str) -> None:
        quoted = tmp.replace("'", "''")
        header = ", HEADER true" if fmt == "csv" else ""
        con.register("result_table", table)
        con.execute(f"COPY result_table TO '{quoted}' (FORMAT {fmt}{header})")

    try:
        atomic_write(target, write)
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return target
