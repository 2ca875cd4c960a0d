"""The sweep results folder: atomic batches, done-markers, cleanup, config checks, DuckDB."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relulab.config import RunConfig, with_overrides
from relulab.config.presets import get_preset
from relulab.results.query import export_query, query
from relulab.results.schema import config_columns
from relulab.results.store import (
    RESULT_FIELDS,
    StoreError,
    SweepStore,
    config_schema,
    rows_to_table,
)

NAN = math.nan


def layer_row(cell: str, seed: int, epoch: int, corr: list[float], final: bool = False,
              **extra) -> dict:
    return {"cell": cell, "config_hash": "h", "seed": seed, "layer": 1, "epoch": epoch,
            "final": final, "n": 4, "teacher_best_corr": corr, "rho_greedy": sum(corr) / 2,
            "student_best_corr": [0.5, 0.9, 0.99, 0.1], "student_fanout_norm": [0.1, 1, 2, 0],
            "winner_rank": [0, 1], "eval_loss": 0.1, "diverged": False, "device": "cpu",
            **extra}


def write(store: SweepStore, batch_id: str, rows: list[dict]) -> None:
    members = sorted({(r["cell"], r["seed"]) for r in rows})
    store.write_batch(batch_id, rows_to_table(rows, RESULT_FIELDS),
                      [{"cell": c, "seed": s, "config_hash": "h"} for c, s in members])


def test_config_columns_are_flat_and_typed():
    cfg = with_overrides(get_preset("spec-multilayer"), {"p": 1.5})
    cols = config_columns(cfg.to_dict())
    assert cols["teacher_widths"] == [50, 75, 100, 125]
    assert cols["teacher_fan_out_decay"] == 1.5
    assert json.loads(cols["optim_lr_schedule"]) == [[0, 0.2], [20, 0.1]]
    assert cols["student_widths"] is None and cols["root_seed"] == 0
    schema = pa.schema(config_schema())
    table = pa.Table.from_pylist([cols], schema=schema)  # every value fits its declared type
    assert table.schema.field("optim_steps_per_epoch").type == pa.int64()
    assert set(cols) == set(schema.names)
    # a config with None fields gets the same column types as one without
    other = config_columns(RunConfig().to_dict())
    assert pa.Table.from_pylist([other], schema=schema).num_rows == 1


def test_rows_to_table_fixes_known_types_and_keeps_extra_columns():
    rows = [{"cell": "a", "seed": 0, "train_loss": None, "rho_greedy": 1, "extra_metric": 2.5}]
    table = rows_to_table(rows, RESULT_FIELDS)
    assert table.schema.field("train_loss").type == pa.float64()
    assert table.schema.field("rho_greedy").type == pa.float64()
    assert table.schema.field("extra_metric").type == pa.float64()
    empty = rows_to_table([], RESULT_FIELDS)
    assert empty.num_rows == 0 and "teacher_best_corr" in empty.schema.names


def test_batch_file_is_the_done_marker_and_cleanup_removes_leftovers(tmp_path):
    store = SweepStore.open(tmp_path / "s")
    try:
        write(store, "aaa", [layer_row("c1", 0, 0, [0.1, 0.2]), layer_row("c1", 1, 0, [0.3, 0.4])])
        # leftovers of a writer killed mid-batch: a temp file and weights without results
        tmp = store.results_dir / ".batch-bbb.parquet.x1.tmp"
        tmp.write_bytes(b"partial")
        store.weights_dir.mkdir()
        orphan = store.weights_dir / "batch-bbb.safetensors"
        orphan.write_bytes(b"x")
        kept = store.weights_dir / "batch-aaa.safetensors"
        kept.write_bytes(b"x")
        assert {(m["cell"], m["seed"]) for m in store.finished_members()} == {("c1", 0),
                                                                              ("c1", 1)}
        assert query(tmp_path / "s", "SELECT count(*) AS n FROM results").to_pylist() == \
            [{"n": 2}]
        removed = store.cleanup()
        assert set(removed) == {tmp, orphan}
        assert not tmp.exists() and not orphan.exists() and kept.exists()
        meta = pq.read_schema(store.results_dir / "batch-aaa.parquet").metadata
        assert json.loads(meta[b"relulab.members"])[0] == {"cell": "c1", "seed": 0,
                                                           "config_hash": "h"}
    finally:
        store.close()


def test_one_writer_at_a_time_and_not_into_a_non_sweep_folder(tmp_path):
    with SweepStore.open(tmp_path / "s"), pytest.raises(StoreError, match="another sweep"):
        SweepStore.open(tmp_path / "s")
    SweepStore.open(tmp_path / "s").close()  # released
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text('{"config": {}}')
    with pytest.raises(StoreError, match="not a sweep"):
        SweepStore.open(tmp_path / "run")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        SweepStore.open(tmp_path / "file")
    with pytest.raises(StoreError, match="cannot create"):
        SweepStore.open(tmp_path / "file" / "below")


def test_conflicting_cell_config_is_an_error(tmp_path):
    store = SweepStore.open(tmp_path)
    try:
        cfg = get_preset("demo")
        cell = {"name": "p=1", "point": {"p": 1.0}, "config_hash": cfg.hash(),
                "config": cfg.to_dict()}
        store.check_cells([cell])
        store.write_cells([cell])
        store.check_cells([cell])  # same config: fine
        other = with_overrides(cfg, {"lr": 0.5})
        clash = {**cell, "config_hash": other.hash(), "config": other.to_dict()}
        with pytest.raises(StoreError, match="'p=1' .* different config"):
            store.check_cells([clash])
    finally:
        store.close()


def test_recovery_view_threshold_nan_and_query_errors(tmp_path):
    root = tmp_path / "s"
    with SweepStore.open(root) as store:
        write(store, "a", [
            layer_row("c", 0, 3, [0.96, 0.95], final=True),
            layer_row("c", 1, 3, [0.99, 0.999], final=True),
            layer_row("c", 2, 3, [NAN, NAN], final=True, diverged=True),  # diverged seed
            layer_row("c", 3, 3, [0.2, 0.951], final=True),
        ])
    rec = query(root, "SELECT teacher_node, seeds, rate FROM recovery ORDER BY teacher_node")
    # node 0: 0.96, 0.99 recovered, 0.2 not; NaN left out -> 2/3. node 1: 0.95 is not > 0.95
    assert rec.to_pylist() == [{"teacher_node": 0, "seeds": 3, "rate": pytest.approx(2 / 3)},
                               {"teacher_node": 1, "seeds": 3, "rate": pytest.approx(2 / 3)}]
    with pytest.raises(StoreError, match="query failed"):
        query(root, "SELECT nope FROM results")
    csv = export_query(root, "SELECT seed, teacher_best_corr FROM results ORDER BY seed",
                       tmp_path / "out.csv")
    assert csv.read_text().splitlines()[0] == "seed,teacher_best_corr"
    pqt = export_query(root, "SELECT * FROM recovery", tmp_path / "out.parquet")
    assert pq.read_table(pqt).num_rows == 2
    with pytest.raises(StoreError, match=".csv or .parquet"):
        export_query(root, "SELECT 1", tmp_path / "out.txt")
    with pytest.raises(StoreError, match="no sweep results"):
        query(tmp_path, "SELECT 1")
