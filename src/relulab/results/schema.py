"""The results layout (torch-free): thresholds, column names and types, and the one function
that builds result rows.

A sweep's results are one row per ``(member, layer, recorded epoch)``: the member's identity,
the convenience columns ``m``/``n`` (this layer's teacher/student width), ``multi``, ``p``, the
:class:`relulab.training.recorder.StatsRecorder` metrics, that epoch's losses and lr (null at epoch
0), the batch timings, and the member's config flattened to ``section_field`` columns. Column types
are Python types here (``str``, ``bool``, ``int``, ``float`` or ``tuple[X, ...]`` for lists);
:mod:`relulab.results.store` maps them to Arrow.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from typing import TYPE_CHECKING, Any

from relulab.config import RunConfig, flatten

if TYPE_CHECKING:
    from relulab.config.grid import Batch

THRESHOLDS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.99)  # counted in matched_050 ... _099
RECOVERY_THRESHOLD = 0.95  # a teacher node is recovered when some student correlates > this
# per teacher node, the number of students above each (the original's counts): students_050 ...
STUDENT_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def threshold_column(threshold: float, prefix: str = "matched") -> str:
    """Column name of a threshold count: 0.95 -> ``matched_095`` (``students_095``)."""
    return f"{prefix}_{round(threshold * 100):03d}"


FloatList = tuple[float, ...]
IntList = tuple[int, ...]

# What identifies a row; the recorder's rows carry seed and member themselves.
KEY_COLUMNS: dict[str, Any] = {
    "cell": str, "config_hash": str, "preset": str, "seed": int, "member": int,
    "layer": int, "epoch": int, "step": int, "final": bool,
    "m": int, "n": int, "multi": int, "p": float,
}
# Written by StatsRecorder (relulab.training.recorder), one row per (seed, layer, recorded epoch).
METRIC_COLUMNS: dict[str, Any] = {
    "rho_greedy": float, "rho_hungarian": float,
    **{threshold_column(t): int for t in THRESHOLDS},
    "teacher_best_corr": FloatList, "teacher_best_student": IntList, "winner_rank": IntList,
    "student_best_corr": FloatList, "student_fanout_norm": FloatList,
    "teacher_fanout_norm": FloatList, "grad_norm": float,
    # what the original code records besides (relulab.training.original_columns)
    "grad_norm_bias": float, "grad_norm_last_batch": float,
    "teacher_best_train_corr": FloatList, "student_best_train_corr": FloatList,
    **{threshold_column(t, "students"): IntList for t in STUDENT_THRESHOLDS},
    "student_beta": FloatList, "student_h_diag": FloatList,
}
# The engine's per-epoch scalars of the member (null at epoch 0).
SCALAR_COLUMNS: dict[str, Any] = {
    "lr": float, "train_loss": float, "eval_loss": float, "diverged": bool,
}
# Timings of the batch the member ran in.
TIMING_COLUMNS: dict[str, Any] = {
    "batch_id": str, "batch_seconds": float, "batch_members": int, "batch_steps": int,
    "started_at": str, "finished_at": str, "device": str,
}
RESULT_COLUMNS: dict[str, Any] = {**KEY_COLUMNS, **METRIC_COLUMNS, **SCALAR_COLUMNS,
                                  **TIMING_COLUMNS}


def column_type(annotation: Any) -> Any:
    """Column type of a config field's annotation: Optional unwrapped, Literal -> ``str``,
    ``tuple[X, ...]`` -> a list of X, nested tuples -> ``str`` (stored as JSON text)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return column_type(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is typing.Literal:
        return str
    if origin is tuple:
        inner = typing.get_args(annotation)[0]
        return str if typing.get_origin(inner) is tuple else tuple[column_type(inner), ...]
    if annotation in (str, bool, int, float):
        return annotation
    raise TypeError(f"no column type for config annotation {annotation}")  # pragma: no cover


@functools.cache
def _config_fields() -> tuple[tuple[str, str, Any], ...]:
    """``(column, dotted key, column type)`` of every RunConfig field, e.g.
    ``("teacher_widths", "teacher.widths", tuple[int, ...])``."""
    out = []
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            sub = typing.get_type_hints(tp)
            out += [(f"{f.name}_{g.name}", f"{f.name}.{g.name}", column_type(sub[g.name]))
                    for g in dataclasses.fields(tp)]
        else:
            out.append((f.name, f.name, column_type(tp)))
    return tuple(out)


def config_column_types() -> dict[str, Any]:
    """Types of the flattened config columns (the same for every results file)."""
    return {col: tp for col, _, tp in _config_fields()}


def config_columns(config: dict) -> dict[str, Any]:
    """A config dict (``RunConfig.to_dict()``) flattened to columns ``section_field``;
    KeyError / TypeError when it is not a full config."""
    if not isinstance(config, dict):
        raise TypeError(f"a config is a dict, got {type(config).__name__}")
    flat = flatten(config)
    out: dict[str, Any] = {}
    for col, key, tp in _config_fields():
        value = flat[key]
        if tp is str and isinstance(value, list | tuple):
            value = json.dumps(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[col] = value
    return out


_RECORDER_OWN = {"seed", "member"}  # the recorder's member index is batch-local


def result_rows(batch: Batch, layer_rows: list[dict], scalar_rows: list[dict],
                timing: dict[str, Any], preset: str = "") -> list[dict[str, Any]]:
    """The rows of a finished batch, in the layout above: one per recorder row
    ``(member, layer, epoch)``, joined with that member's scalars of the epoch, ``timing``
    (the :data:`TIMING_COLUMNS`) and its cell's config columns."""
    scalars = {(row["member"], row["epoch"]): row for row in scalar_rows}
    per_cell = [config_columns(c.config.to_dict()) for c in batch.cells]
    rows = []
    for rec in layer_rows:
        i = int(rec["member"])
        ci, seed = batch.members[i]
        cell = batch.cells[ci]
        cfg = cell.config
        layer = int(rec["layer"])
        sc = scalars.get((i, int(rec["epoch"])), {})
        row: dict[str, Any] = {
            "cell": cell.name, "config_hash": cell.config_hash, "preset": preset, "seed": seed,
            "member": i, "m": cfg.teacher.widths[layer - 1], "n": cfg.student_widths[layer - 1],
            "multi": cfg.student.multi, "p": cfg.teacher.fan_out_decay,
        }
        row.update((k, v) for k, v in rec.items() if k not in _RECORDER_OWN)
        row.update((k, sc.get(k)) for k in SCALAR_COLUMNS)
        row.update(timing)
        row.update(per_cell[ci])
        rows.append(row)
    return rows
