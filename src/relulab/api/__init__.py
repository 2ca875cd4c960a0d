"""The library surface, for notebooks and scripts: :func:`train` a group of seeds (your own
``nn.Module`` teacher or a preset's), :func:`sweep` a grid, :func:`load` any results folder as
DataFrames. ``relulab.train``, ``relulab.sweep`` and ``relulab.load`` are these."""

from relulab.api.results import Results, load
from relulab.api.sweeping import sweep
from relulab.api.training import parse_seeds, train

__all__ = ["Results", "load", "parse_seeds", "sweep", "train"]
