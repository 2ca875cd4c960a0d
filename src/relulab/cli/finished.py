"""A finished run already in ``train --out``: the same run (nothing to do) or another one
(refused unless ``--overwrite``), so a run is never replaced by accident."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relulab.config import ConfigError, config_from_dict

RUN_FILES = ("manifest.json", "config.json", "weights.safetensors", "real_config.json")
RUN_FOLDERS = ("results", "cells", "weights")


def finished_run(out: Path) -> dict[str, Any] | None:
    """``{"config_hash", "seeds", "steps"}`` of the finished run in ``out`` (None if none)."""
    path = out / "manifest.json"
    if not path.exists():
        return None
    try:
        man = json.loads(path.read_text())
        config_hash = man.get("run_config_hash", man.get("config_hash"))
        if config_hash is None and (out / "config.json").exists():
            config_hash = config_from_dict(json.loads((out / "config.json").read_text())).hash()
    except (ValueError, TypeError, ConfigError, AttributeError) as exc:
        raise ConfigError(f"'{out}' holds an unreadable run ({exc.__class__.__name__}); pass "
                          "--overwrite to replace it") from None
    return {"config_hash": config_hash, "seeds": man.get("seeds"), "steps": man.get("steps")}


def check_finished(out: Path, config_hash: str, seeds: list[int], steps: int,
                   overwrite: bool) -> bool:
    """True when ``out`` holds this very run, finished; ConfigError when it holds another
    (unless ``overwrite``); False when there is none (or it is to be replaced)."""
    done = finished_run(out)
    if done is None or overwrite:
        return False
    mine = {"config_hash": config_hash, "seeds": seeds, "steps": steps}
    if done == mine:
        return True
    raise ConfigError(f"'{out}' holds a finished run of config {done['config_hash']} (seeds "
                      f"{done['seeds']}, {done['steps']} steps), not of this command's config "
                      f"{config_hash} (seeds {seeds}, {steps} steps); pass --overwrite to "
                      "replace it or choose another --out")


def clear_run(out: Path) -> None:
    """Remove a replaced run's files (its record first), so no file of it survives."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for path in out.glob("*.parquet"):
        path.unlink()
    for name in RUN_FOLDERS:
        folder = out / name
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
