"""relulab: the teacher-student theory of ReLU networks, runnable, checkable and fast.

The public API is imported on first use (PEP 562), so ``import relulab.plots`` or
``relulab.report`` (which read stored results) does not import torch.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# Transparent huge pages for torch's large CPU allocations (read once, at torch's first
# allocation: effective when relulab is imported before torch allocates). Training gathers
# random rows from ~1 GB training sets; 2 MB pages cut the TLB misses (~10-30% per step).
# Set THP_MEM_ALLOC_ENABLE=0 to opt out.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ConfigError": "relulab.config", "DataConfig": "relulab.config",
    "OptimConfig": "relulab.config", "RunConfig": "relulab.config",
    "StudentConfig": "relulab.config", "TeacherConfig": "relulab.config",
    "with_overrides": "relulab.config",
    "StatsContext": "relulab.training.engine", "TrainResult": "relulab.training.engine",
    "build": "relulab.training.setup", "train": "relulab.api", "load": "relulab.api",
    "sweep": "relulab.api", "Results": "relulab.api", "Grid": "relulab.config.grid",
    "Net": "relulab.nets.networks", "forward": "relulab.nets.networks",
    "predict": "relulab.nets.networks",
    "PRESETS": "relulab.config.presets", "get_preset": "relulab.config.presets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'relulab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
