"""Sweeps: a grid of configs x seeds run in batches (:mod:`~relulab.sweeps.runner`), resumable,
on a local or a plugged-in executor (:mod:`~relulab.sweeps.executors`; Ray in
:mod:`~relulab.sweeps.ray_executor`, found through the executor registry)."""
