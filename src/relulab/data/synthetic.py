"""Data sources: per-seed input sets and batch streams.

A :class:`DataSource` gives, for S seeds, an eval set ``(S, N_eval, *input_shape)`` and a
:class:`BatchStream` of training inputs ``(S, B, *input_shape)`` per step. Synthetic sources
draw from each seed's own generators (streams "train", "eval", "shuffle"), so a seed's data does
not depend on which batch of seeds it runs in. Real data plugs in by providing the same two
methods (:mod:`relulab.real`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from relulab.config import DataConfig, RunConfig
from relulab.data.streams import (
    FiniteStream,
    FreshStream,
    RegeneratedStream,
    ReplacementStream,
    draw,
)
from relulab.nets.networks import input_shape
from relulab.rng import data_seed, generator


class BatchStream(Protocol):
    def next(self) -> tuple[Tensor, Tensor | None]:
        """Inputs ``(S, B, ...)`` and their targets ``(S, B, c)`` when the stream carries
        precomputed targets (None otherwise: the caller runs the teacher)."""
        ...

    def state_dict(self) -> dict[str, Tensor]:
        """Everything needed to continue the stream bit-identically (for checkpoints)."""
        ...

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Continue from :meth:`state_dict` (on a stream built from the same data)."""
        ...


class DataSource(Protocol):
    input_shape: tuple[int, ...]

    def eval_inputs(self) -> Tensor: ...

    def train_inputs(self) -> Tensor | None: ...

    def stream(self, batch_size: int, train_x: Tensor | None = None,
               targets: Tensor | None = None) -> BatchStream:
        """Training batches; ``train_x`` passes the already-drawn training set back in and
        ``targets`` its teacher outputs."""
        ...


@dataclass
class SyntheticSource:
    """Gaussian / uniform inputs: member i draws from ``cfgs[i]`` with the generators of
    ``(root_seeds[i], seeds[i])``; its training and eval sets with those of
    ``(root_seeds[i], data_seeds[i])`` (default: ``seeds``; a shared seed gives every member
    the same sets). All members share train/eval sizes and the sampling rule."""

    cfgs: list[DataConfig]
    input_shape: tuple[int, ...]
    seeds: list[int]
    root_seeds: list[int]
    device: torch.device | str = "cpu"
    dtype: torch.dtype = torch.float32
    data_seeds: list[int] | None = None
    regenerate_every: int | None = None  # steps per epoch when data.regenerate

    def __post_init__(self) -> None:
        sizes = {(c.train_size, c.eval_size, c.sampling) for c in self.cfgs}
        if len(sizes) != 1 or not (len(self.cfgs) == len(self.seeds) == len(self.root_seeds)):
            raise ValueError("SyntheticSource members must share train/eval sizes and sampling")
        self.train_size, self.eval_size, self.sampling = sizes.pop()
        if self.data_seeds is None:
            self.data_seeds = list(self.seeds)

    @classmethod
    def for_members(cls, cfgs: Sequence[RunConfig], seeds: Sequence[int],
                    device: torch.device | str = "cpu") -> SyntheticSource:
        """The source of members ``(cfgs[i], seeds[i])`` of one batched run, in their
        precision, with the shared data seed where ``shared_teacher``."""
        return cls([c.data for c in cfgs], input_shape(cfgs[0].teacher), list(seeds),
                   [c.root_seed for c in cfgs], device, getattr(torch, cfgs[0].dtype),
                   [data_seed(s, c.shared_teacher) for c, s in zip(cfgs, seeds, strict=True)],
                   cfgs[0].steps_per_epoch if cfgs[0].data.regenerate else None)

    def generators(self, stream: str, seeds: list[int] | None = None) -> list[torch.Generator]:
        seeds = self.seeds if seeds is None else seeds
        return [generator(r, s, stream) for r, s in zip(self.root_seeds, seeds, strict=True)]

    def _per_seed(self, stream: str, n: int) -> Tensor:
        """``(S, n, *input_shape)``: each member's set of ``stream``. Members with equal
        (distribution, root seed, data seed) have equal sets (a sweep's cells of one seed),
        so each distinct set is drawn once and stacked for every member that has it."""
        assert self.data_seeds is not None
        drawn: dict[tuple, Tensor] = {}
        xs = []
        for c, r, s in zip(self.cfgs, self.root_seeds, self.data_seeds, strict=True):
            key = (c.kind, c.std, r, s)
            if key not in drawn:
                drawn[key] = draw(c.kind, c.std, (n, *self.input_shape),
                                  generator=generator(r, s, stream), dtype=self.dtype)
            xs.append(drawn[key])
        return torch.stack(xs).to(self.device)

    def eval_inputs(self) -> Tensor:
        return self._per_seed("eval", self.eval_size)

    def train_inputs(self) -> Tensor | None:
        if self.train_size is None:
            return None
        return self.train_set("train")

    def train_set(self, stream: str) -> Tensor:
        """The finite training set drawn from generator stream ``stream`` (``train``, or
        ``train/k`` for epoch k of a regenerated run)."""
        return self._per_seed(stream, self.train_size)

    def stream(self, batch_size: int, train_x: Tensor | None = None,
               targets: Tensor | None = None) -> BatchStream:
        if self.train_size is None:
            return FreshStream(self.cfgs, self.input_shape, batch_size,
                               self.generators("train", self.data_seeds), self.device,
                               dtype=self.dtype)
        x = train_x if train_x is not None else self.train_inputs()
        assert x is not None
        if self.regenerate_every is not None:
            return RegeneratedStream(self, batch_size, x, targets, self.regenerate_every)
        return self.sampler(x, batch_size, self.generators("shuffle"), targets)

    def sampler(self, x: Tensor, batch_size: int, gens: list[torch.Generator],
                 targets: Tensor | None) -> BatchStream:
        """Batches of the fixed training set ``x`` by this source's sampling rule."""
        if self.sampling == "replacement":
            return ReplacementStream(x, batch_size, gens, targets)
        return FiniteStream(x, batch_size, gens, targets)
