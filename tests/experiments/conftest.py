"""Experiment tests run many small float64 kernels: one intra-op thread each
(:func:`relulab.threads.one_thread`)."""

import pytest

from relulab.threads import one_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield
