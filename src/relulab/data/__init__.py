"""Data: where inputs come from and how batches are drawn from them.

:mod:`~relulab.data.synthetic` holds the :class:`DataSource` / :class:`BatchStream` protocols and
the Gaussian/uniform :class:`SyntheticSource`; :mod:`~relulab.data.streams` the batch streams
(passes, draws with replacement, fresh samples); :mod:`~relulab.data.suggested` the
theory-suggested training set. Real data sets live in :mod:`relulab.real`.
"""

from relulab.data.streams import (
    FiniteStream,
    FreshStream,
    RegeneratedStream,
    ReplacementStream,
    draw,
)
from relulab.data.synthetic import BatchStream, DataSource, SyntheticSource

__all__ = ["BatchStream", "DataSource", "FiniteStream", "FreshStream", "RegeneratedStream",
           "ReplacementStream", "SyntheticSource", "draw"]
