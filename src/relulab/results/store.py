"""Results on disk: atomic JSON / Parquet writes, run folders, manifests. No pickle anywhere."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from relulab.config.ids import iso_time, short_hash
from relulab.results.schema import RESULT_COLUMNS, config_column_types


class StoreError(ValueError):
    """A results folder is unusable (one-line message)."""


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` as a writable directory or raise StoreError."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise StoreError(f"output path '{p}' exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create output directory '{p}': {exc.strerror}") from None
    if not os.access(p, os.W_OK):
        raise StoreError(f"output directory '{p}' is not writable")
    return p


def check_writable(path: str | os.PathLike) -> Path:
    """StoreError unless ``path`` is, or could be created as, a writable directory (checked
    before long work, creating nothing)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise StoreError(f"output path '{p}' exists and is not a directory")
    existing = next(a for a in (p, *p.absolute().parents) if a.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise StoreError(f"output directory '{p}' is not writable ('{existing}' is not)")
    return p


def atomic_write(path: Path, write: Any) -> None:
    """Write ``path`` by ``write(tmp)`` to a temporary file beside it, then rename: readers
    see the old file or the new one, never a part. The file gets mode 0666 less the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        # after the write: mkstemp's 0600 would make results private, and some writers
        # (safetensors' save_file) create the file anew
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file + rename)."""
    def w(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
    atomic_write(Path(path), w)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_parquet(path: str | os.PathLike, rows: Iterable[dict] | pa.Table) -> None:
    """Write rows (list of dicts or an Arrow table) as Parquet atomically."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows))
    atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp))


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("relulab", "torch", "numpy", "scipy", "pyarrow", "duckdb"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def manifest(config: dict, *, device: str, seeds: list[int], command: str | None = None,
             **extra: Any) -> dict:
    """A self-describing record of a run: config, its hash, seeds, versions, device, times."""
    return {"config": config, "seeds": seeds, "device": device, "versions": versions(),
            "command": command if command is not None else " ".join(sys.argv),
            "written_at": iso_time(), **extra}


# ---------------------------------------------------------------------------------------------
# Sweep results folders
#
#   DIR/manifest.json               sweep record: cells -> config hash, one entry per invocation
#   DIR/cells/<hash of name>.json   each cell's name, grid point and full config (checked on resume)
#   DIR/results/batch-<id>.parquet  one finished batch: one row per (cell, seed, layer, epoch);
#                                   the file is the batch's done-marker, its metadata lists members
#   DIR/weights/batch-<id>.safetensors  optional final weights of the batch (written before it)
#   DIR/.lock                       held (flock) while a sweep writes

SWEEP_KIND = "relulab-sweep"
MEMBERS_KEY = b"relulab.members"
BATCH_GLOB = "batch-*.parquet"


ARROW_TYPES: dict[Any, pa.DataType] = {  # column types of relulab.results.schema -> Arrow
    str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64(),
    tuple[int, ...]: pa.list_(pa.int64()), tuple[float, ...]: pa.list_(pa.float64()),
}


def arrow_fields(columns: dict[str, Any]) -> list[pa.Field]:
    """Arrow fields of ``{column: column type}`` (:mod:`relulab.results.schema`'s types)."""
    return [pa.field(name, ARROW_TYPES[tp]) for name, tp in columns.items()]


def config_schema() -> list[pa.Field]:
    """Arrow fields of the flattened config columns (same for every results file)."""
    return arrow_fields(config_column_types())


RESULT_FIELDS: list[pa.Field] = arrow_fields(RESULT_COLUMNS)


def rows_to_table(rows: list[dict], fields: list[pa.Field]) -> pa.Table:
    """Rows as an Arrow table whose known columns have the types in ``fields`` (so files of
    different batches agree); unknown columns keep their inferred types."""
    known = {f.name: f for f in fields}
    if not rows:
        return pa.Table.from_pylist([], schema=pa.schema(fields))
    table = pa.Table.from_pylist(rows)
    schema = pa.schema([known.get(f.name, f) for f in table.schema])
    return table.cast(schema)


def results_table(rows: list[dict]) -> pa.Table:
    """Result rows (:func:`relulab.results.schema.result_rows`) as the table of a batch file."""
    return rows_to_table(rows, RESULT_FIELDS + config_schema())


class SweepStore:
    """A sweep's results folder (layout above). ``open`` takes the folder's write lock."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._lock_fd: int | None = None

    results_dir = property(lambda self: self.root / "results")
    cells_dir = property(lambda self: self.root / "cells")
    weights_dir = property(lambda self: self.root / "weights")
    manifest_path = property(lambda self: self.root / "manifest.json")

    @classmethod
    def open(cls, root: str | os.PathLike) -> SweepStore:
        """Create/validate ``root`` for writing and lock it (StoreError if another sweep holds
        it, or if it holds something other than a sweep)."""
        import fcntl

        store = cls(ensure_dir(root))
        if store.manifest_path.exists() and store.read_manifest().get("kind") != SWEEP_KIND:
            raise StoreError(f"'{store.root}' holds a manifest that is not a sweep's")
        try:
            fd = os.open(store.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write to '{store.root}': {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(f"another sweep is writing to '{store.root}'") from None
        store._lock_fd = fd
        return store

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cells ---------------------------------------------------------------------------
    def _cell_path(self, name: str) -> Path:
        return self.cells_dir / f"{short_hash(name)}.json"

    def check_cells(self, cells: list[dict]) -> None:
        """StoreError if a cell name was stored (or has finished rows) with another config."""
        stored_hashes = {m["cell"]: m["config_hash"] for m in self.finished_members()}
        for cell in cells:
            path = self._cell_path(cell["name"])
            if path.exists():
                stored = json.loads(path.read_text())
                if stored.get("config") != json.loads(json.dumps(cell["config"])):
                    raise StoreError(
                        f"cell '{cell['name']}' in '{self.root}' was run with a different config "
                        f"(stored {stored.get('config_hash')}, now {cell['config_hash']}); "
                        "use another --out or the same preset and --set")
            old = stored_hashes.get(cell["name"])
            if old is not None and old != cell["config_hash"]:
                raise StoreError(f"cell '{cell['name']}' in '{self.root}' has results of config "
                                 f"{old}, not {cell['config_hash']}")

    def write_cells(self, cells: list[dict]) -> None:
        for cell in cells:
            path = self._cell_path(cell["name"])
            if not path.exists():
                write_json(path, cell)

    def load_cells(self) -> dict[str, dict]:
        """``{cell name: {"name", "point", "config_hash", "config"}}`` of every stored cell."""
        if not self.cells_dir.is_dir():
            return {}
        out = {}
        for path in sorted(self.cells_dir.glob("*.json")):
            cell = json.loads(path.read_text())
            out[cell["name"]] = cell
        return out

    # -- batches -------------------------------------------------------------------------
    def batch_files(self) -> list[Path]:
        return sorted(self.results_dir.glob(BATCH_GLOB)) if self.results_dir.is_dir() else []

    def finished_members(self) -> list[dict]:
        """``[{"cell", "seed", "config_hash"}]`` of every finished batch (from file metadata)."""
        out: list[dict] = []
        for path in self.batch_files():
            try:
                meta = pq.read_schema(path).metadata or {}
            except (OSError, pa.ArrowInvalid) as exc:
                raise StoreError(f"unreadable results file '{path}': {exc}") from None
            out.extend(json.loads(meta.get(MEMBERS_KEY, b"[]")))
        return out

    def cleanup(self) -> list[Path]:
        """Remove leftovers of killed writers: temp files and weights without a results file."""
        removed = []
        done = {p.name.removesuffix(".parquet") for p in self.batch_files()}
        for folder in (self.results_dir, self.cells_dir, self.weights_dir, self.root):
            if folder.is_dir():
                removed += [p for p in folder.glob(".*.tmp") if p.is_file()]
        if self.weights_dir.is_dir():
            removed += [p for p in self.weights_dir.glob("batch-*.safetensors")
                        if p.name.removesuffix(".safetensors") not in done]
        for p in removed:
            p.unlink(missing_ok=True)
        return removed

    def write_batch(self, batch_id: str, table: pa.Table, members: list[dict],
                    info: dict | None = None, weights: dict | None = None,
                    weights_meta: dict[str, str] | None = None) -> Path:
        """Write a finished batch: weights first (optional, with their safetensors metadata
        ``weights_meta``), then the results file, atomically; the results file's existence
        marks the batch (and its members) done."""
        if weights:
            from safetensors.torch import save_file

            meta = {**(weights_meta or {}), "members": json.dumps(members)}
            target = self.weights_dir / f"batch-{batch_id}.safetensors"
            atomic_write(target, lambda tmp: save_file(weights, tmp, metadata=meta))
        meta = dict(table.schema.metadata or {})
        meta[MEMBERS_KEY] = json.dumps(members).encode()
        meta[b"relulab.batch"] = json.dumps(info or {}, default=str).encode()
        path = self.results_dir / f"batch-{batch_id}.parquet"
        write_parquet(path, table.replace_schema_metadata(meta))
        return path

    # -- manifest ------------------------------------------------------------------------
    def read_manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {}
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError:
            raise StoreError(f"'{self.manifest_path}' is not valid JSON") from None

    def write_manifest(self, data: dict) -> None:
        write_json(self.manifest_path, {"kind": SWEEP_KIND, **data})
