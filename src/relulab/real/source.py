"""A :class:`relulab.data.DataSource` over a real data set's inputs (labels are not used: the
student learns the teacher's outputs). Every seed sees the same inputs: the training split in
shuffled passes (each seed its own shuffle generator) and the test split as the eval set."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from relulab.data import BatchStream, FiniteStream
from relulab.rng import generator


@dataclass
class RealSource:
    """Inputs ``train_x (N, ...)`` and ``eval_x (N_eval, ...)`` shared by the seeds
    ``seeds`` (shuffles from the generators of ``(root_seed, seed, "shuffle")``)."""

    train_x: Tensor
    eval_x: Tensor
    seeds: list[int]
    root_seed: int = 0
    device: torch.device | str = "cpu"
    dtype: torch.dtype = torch.float32

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    def _per_seed(self, x: Tensor) -> Tensor:
        """``(S, N, ...)``: the same samples for every seed."""
        x = x.to(device=self.device, dtype=self.dtype)
        return x.unsqueeze(0).expand(len(self.seeds), *x.shape).contiguous()

    def eval_inputs(self) -> Tensor:
        return self._per_seed(self.eval_x)

    def train_inputs(self) -> Tensor | None:
        return self._per_seed(self.train_x)

    def stream(self, batch_size: int, train_x: Tensor | None = None,
               targets: Tensor | None = None) -> BatchStream:
        x = train_x if train_x is not None else self.train_inputs()
        assert x is not None
        gens = [generator(self.root_seed, s, "shuffle") for s in self.seeds]
        return FiniteStream(x, batch_size, gens, targets)
