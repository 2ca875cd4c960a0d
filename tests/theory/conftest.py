"""Fixtures for the theory tests.

The theory tests run many small float64 kernels; on a shared 2-core machine intra-op threads
only add contention (a 10 µs op can wait ~20 ms for a busy core), so each test here runs with
one intra-op thread and restores the previous setting afterwards.
"""

import pytest
import torch

from relulab.threads import one_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


@pytest.fixture
def f64() -> torch.dtype:
    return torch.float64
