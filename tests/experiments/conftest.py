"""Fixtures for the experiment tests: like the theory tests, many small float64 kernels, so
each test runs with one intra-op thread (restored afterwards; see tests/theory/conftest.py)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
