"""Results on disk: atomic JSON / Parquet writes, run folders, manifests. No pickle anywhere."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


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


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
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
    _atomic_write(Path(path), w)


def write_parquet(path: str | os.PathLike, rows: Iterable[dict] | pa.Table) -> None:
    """Write rows (list of dicts or an Arrow table) as Parquet atomically."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows))
    _atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp))


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
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
