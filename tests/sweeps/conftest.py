"""Fixtures of the sweep tests: one finished tiny sweep shared by the read-only tests
(query, plots, report) and a headless browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import find_chromium, tiny_spec

from relulab.sweeps.executors import get_executor
from relulab.sweeps.runner import run_sweep


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny sweep (read-only for the tests that use it)."""
    root = tmp_path_factory.mktemp("sweep") / "done"
    run_sweep(tiny_spec(), root, executor=get_executor("local"), max_members=4)
    return root


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    return path
