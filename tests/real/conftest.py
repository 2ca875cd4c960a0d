"""Fixtures of the real-data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from real_helpers import write_cifar

from relulab.threads import one_thread


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny kernels: one torch thread (relulab.threads) on the shared 2-core machine."""
    with one_thread():
        yield


@pytest.fixture
def cifar_root(tmp_path) -> tuple[Path, dict[str, tuple]]:
    root = tmp_path / "cifar"
    return root, write_cifar(root)
