"""Sweep grids, cells and batches (torch-free): what a sweep runs, before anything runs.

A *cell* is one grid point applied to the preset (``m=10,multi=5,p=1.5``); a *member* is a
``(cell, seed)`` pair. Cells whose configs have equal :func:`relulab.config.group_key` share one
batched program; a group is cut into *batches* of at most ``max_members`` members (each batch is
trained as one program and written as one results file by :mod:`relulab.sweeps.runner`).

Grid syntax (CLI ``--grid``): ``key=v1,v2,...``; keys as in ``--set`` (aliases ``m``, ``multi``,
``p``, ... or dotted paths). A list-valued key takes ``/`` between the elements of one value:
``--grid widths=50/75/100/125,10/15/20/25``; ``optim.lr_schedule=0:0.2/20:0.1``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relulab.config import (
    ALIASES,
    ConfigError,
    RunConfig,
    group_key,
    parse_value,
    resolve_key,
    with_overrides,
)
from relulab.config.ids import json_hash

BASE_CELL = "base"  # name of the single cell of a sweep without a grid
DEFAULT_MAX_MEMBERS = 192  # members per batch: the paper's 6 p x 32 seeds of one (m, multi)


# ---------------------------------------------------------------------------------------------
# Grid parsing and cells


def canonical_key(key: str) -> str:
    """The stable spelling of an override key: its first alias (``m``, ``p``, ``multi``, ...)
    when it has one, else the dotted path. ``teacher.widths``, ``widths``, ``m`` -> ``m``."""
    section, name = resolve_key(key)
    path = f"{section}.{name}" if section else name
    for alias, target in ALIASES.items():
        if target == path:
            return alias
    return path


def format_value(value: Any) -> str:
    """Stable text of an override value: ``1.0 -> 1``, ``(50, 75) -> 50/75``, ``True -> true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, tuple):
        return "/".join(":".join(format_value(v) for v in x) if isinstance(x, tuple)
                        else format_value(x) for x in value)
    return str(value)


def format_point_value(value: Any) -> str:
    """:func:`format_value` of a grid value read back from JSON (where tuples became lists)."""
    if isinstance(value, list):
        value = tuple(tuple(x) if isinstance(x, list) else x for x in value)
    return format_value(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Grid:
    """Ordered axes ``((canonical key, (value, ...)), ...)``; values already parsed."""

    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.axes)

    def points(self) -> list[dict[str, Any]]:
        """The cartesian product, first axis slowest."""
        values = [v for _, v in self.axes]
        return [dict(zip(self.keys, combo, strict=True)) for combo in itertools.product(*values)]

    def to_dict(self) -> dict[str, list[Any]]:
        return {k: [_jsonable(v) for v in vals] for k, vals in self.axes}

    @classmethod
    def of(cls, axes: Mapping[str, Sequence[Any]]) -> Grid:
        """The grid of ``{"p": [0, 2], "multi": [1, 5]}`` (values as Python values or as
        ``--grid`` text), checked as ``--grid`` is."""
        items = []
        for key, values in axes.items():
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                values = [values]
            items.append(f"{key}=" + ",".join(format_value(tuple(v) if isinstance(v, list)
                                                           else v) for v in values))
        return parse_grid(items)

    def __post_init__(self) -> None:
        if isinstance(self.axes, Mapping):  # Grid({"p": [0, 2]}) as Grid.of
            object.__setattr__(self, "axes", Grid.of(self.axes).axes)


def parse_grid(items: Sequence[str]) -> Grid:
    """Parse ``--grid key=v1,v2`` items (ConfigError on unknown key, empty list, wrong type,
    a repeated key or a repeated value)."""
    axes: list[tuple[str, tuple[Any, ...]]] = []
    seen: set[str] = set()
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"--grid '{item}' is not key=v1,v2,...")
        raw_key, text = (s.strip() for s in item.split("=", 1))
        key = canonical_key(raw_key)
        if key in seen:
            raise ConfigError(f"--grid key '{raw_key}' given twice")
        seen.add(key)
        parts = [p.strip() for p in text.split(",")]
        if not text or all(not p for p in parts):
            raise ConfigError(f"--grid '{item}': empty list of values")
        if any(not p for p in parts):
            raise ConfigError(f"--grid '{item}': empty value in the list")
        values = tuple(parse_value(raw_key, p.replace("/", ",")) for p in parts)
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid '{item}': repeated value")
        axes.append((key, values))
    return Grid(tuple(axes))


@dataclass(frozen=True)
class Cell:
    """One grid point of a sweep: its stable name, the point and the full config."""

    name: str
    point: tuple[tuple[str, Any], ...]  # sorted (canonical key, value)
    config: RunConfig

    @property
    def config_hash(self) -> str:
        return self.config.hash()

    def point_dict(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in self.point}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "point": self.point_dict(), "config_hash": self.config_hash,
                "config": self.config.to_dict()}


def cell_name(point: dict[str, Any]) -> str:
    """``{"p": 1.5, "m": (10,), "multi": 5} -> "m=10,multi=5,p=1.5"`` (keys sorted)."""
    if not point:
        return BASE_CELL
    return ",".join(f"{k}={format_value(point[k])}" for k in sorted(point))


@dataclass(frozen=True)
class SweepSpec:
    """What to run: a preset's config with ``--set`` overrides, a grid and the seeds."""

    preset: str
    base: RunConfig
    grid: Grid = field(default_factory=Grid)
    seeds: tuple[int, ...] = (0,)
    overrides: tuple[tuple[str, str], ...] = ()  # the --set items, for the record

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ConfigError("a sweep needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("seeds must be distinct")
        fixed = {canonical_key(k) for k, _ in self.overrides}
        both = fixed & set(self.grid.keys)
        if both:
            raise ConfigError(f"key '{sorted(both)[0]}' is both in --set and --grid")

    def cells(self) -> list[Cell]:
        """All cells in grid order; every config is validated here (ConfigError)."""
        out = []
        for point in self.grid.points():
            try:
                cfg = with_overrides(self.base, point)
            except ConfigError as exc:
                raise ConfigError(f"grid point {cell_name(point)}: {exc}") from None
            out.append(Cell(cell_name(point), tuple(sorted(point.items())), cfg))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "grid": self.grid.to_dict(), "seeds": list(self.seeds),
                "set": dict(self.overrides), "base_config": self.base.to_dict()}


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class Batch:
    """Members ``(cells[i], seed)`` trained as one program (equal group keys)."""

    cells: tuple[Cell, ...]
    members: tuple[tuple[int, int], ...]  # (index into cells, seed)

    @property
    def batch_id(self) -> str:
        """Hash of the ``(cell, config hash, seed)`` members: the batch's file name."""
        return json_hash(sorted([self.cells[i].name, self.cells[i].config_hash, s]
                                for i, s in self.members))

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the batch (equal for all its members)."""
        cfg = self.cells[self.members[0][0]].config
        return cfg.optim.epochs * cfg.steps_per_epoch


def plan_batches(cells: Sequence[Cell], seeds: Sequence[int],
                 finished: Iterable[tuple[str, int]] = (),
                 max_members: int = DEFAULT_MAX_MEMBERS) -> list[Batch]:
    """Unfinished members grouped by :func:`group_key` (first-seen order), each group cut into
    batches of at most ``max_members``; a cell's seeds stay adjacent."""
    if max_members < 1:
        raise ConfigError(f"--max-members must be positive, got {max_members}")
    done = set(finished)
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(group_key(cell.config), []).append(cell)
    batches = []
    for group in groups.values():
        todo = [(i, s) for i, c in enumerate(group) for s in seeds if (c.name, s) not in done]
        for start in range(0, len(todo), max_members):
            chunk = todo[start:start + max_members]
            used = sorted({i for i, _ in chunk})
            remap = {old: new for new, old in enumerate(used)}
            batches.append(Batch(tuple(group[i] for i in used),
                                 tuple((remap[i], s) for i, s in chunk)))
    return batches
