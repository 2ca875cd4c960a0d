"""Intra-op thread control for many tiny kernels.

Small float64 kernels (theory checks, dispatch-bound trainings) gain nothing from a second
intra-op thread, and on a shared, busy 2-core machine the contention made them up to 20x slower
(measured: a luck test 141 s vs 7 s), so they run inside :func:`one_thread`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one torch intra-op thread; restore the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
