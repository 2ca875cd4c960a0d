"""Helpers shared by the sweep tests (imported as ``sweep_helpers``; this folder is on
sys.path under pytest's default import mode)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from relulab.config import with_overrides
from relulab.config.grid import SweepSpec, parse_grid
from relulab.config.presets import get_preset

# A few seconds of training on 2 cores: 4 cells x 3 seeds, 2 epochs x 20 steps of the demo net
# (student 4x, 10 outputs, float32 as the shapes in these tests expect).
TINY_SET = {"epochs": "2", "steps_per_epoch": "20", "N": "512", "data.eval_size": "256",
            "multi": "4", "c": "10", "dtype": "float32"}
TINY_GRID = ["m=2,3", "p=0,1"]
CLI_SET = [f"--set={k}={v}" for k, v in TINY_SET.items()]


def tiny_spec(seeds: int = 3, grid: list[str] | None = None, **extra: str) -> SweepSpec:
    overrides = {**TINY_SET, **extra}
    base = with_overrides(get_preset("demo"), overrides)
    return SweepSpec("demo", base, parse_grid(TINY_GRID if grid is None else grid),
                     tuple(range(seeds)), tuple(overrides.items()))


def relulab_cmd() -> list[str]:
    """The installed ``relulab`` entry point (or the same through this interpreter)."""
    exe = Path(sys.executable).with_name("relulab")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from relulab.cli import main; main()"]


def find_chromium() -> str | None:
    """A Chromium-like browser on PATH, or None (``.ci/run`` installs Debian's chromium)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def distinct_colors(png_path: Path) -> int:
    """Number of distinct RGB colours of an image (a blank page has 1)."""
    from PIL import Image

    with Image.open(png_path) as img:
        colors = img.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colors or [])
