"""Data sources: per-seed input sets and batch streams.

A :class:`DataSource` gives, for S seeds, an eval set ``(S, N_eval, *input_shape)`` and a
:class:`BatchStream` of training inputs ``(S, B, *input_shape)`` per step. Synthetic sources
draw from each seed's own generators (streams "train", "eval", "shuffle"), so a seed's data does
not depend on which batch of seeds it runs in. Real data (a later issue) plugs in by providing
the same two methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from relulab.config import DataConfig
from relulab.rng import generator


class BatchStream(Protocol):
    def next(self) -> tuple[Tensor, Tensor | None]:
        """Inputs ``(S, B, ...)`` and, when precomputed, their indices ``(S, B)`` into the
        training set (None for fresh samples)."""
        ...


class DataSource(Protocol):
    input_shape: tuple[int, ...]

    def eval_inputs(self) -> Tensor: ...

    def train_inputs(self) -> Tensor | None: ...

    def stream(self, batch_size: int) -> BatchStream: ...


def draw(kind: str, std: float, shape: tuple[int, ...], *, generator: torch.Generator,
         device: torch.device | str = "cpu") -> Tensor:
    """Samples of N(0, std^2) (gaussian) or U(-std, std) (uniform), float32."""
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, device=device) * std
    return (torch.rand(shape, generator=generator, device=device) * 2 - 1) * std


class FiniteStream:
    """Iterates a fixed training set of N samples per seed in epochs, each seed reshuffled
    with its own generator every pass; batches wrap across passes."""

    def __init__(self, train_x: Tensor, batch_size: int, generators: list[torch.Generator]):
        self.x = train_x  # (S, N, ...)
        self.batch_size = batch_size
        self.generators = generators
        self.n = train_x.shape[1]
        self.perm = self._new_perm()
        self.pos = 0
        self.rows = torch.arange(train_x.shape[0], device=train_x.device)[:, None]

    def _new_perm(self) -> Tensor:
        return torch.stack([torch.randperm(self.n, generator=g) for g in self.generators]
                           ).to(self.x.device)

    def next(self) -> tuple[Tensor, Tensor | None]:
        parts = []
        need = self.batch_size
        while need > 0:
            take = min(need, self.n - self.pos)
            parts.append(self.perm[:, self.pos:self.pos + take])
            self.pos += take
            need -= take
            if self.pos == self.n:
                self.perm, self.pos = self._new_perm(), 0
        idx = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # (S, B)
        return self.x[self.rows, idx], idx


class FreshStream:
    """Fresh samples every step, drawn per seed in chunks of ``chunk`` steps."""

    def __init__(self, cfg: DataConfig, shape: tuple[int, ...], batch_size: int,
                 generators: list[torch.Generator], device: torch.device | str,
                 chunk: int = 64):
        self.cfg, self.shape, self.batch_size = cfg, shape, batch_size
        self.generators, self.device, self.chunk = generators, device, chunk
        self.buf: Tensor | None = None
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        if self.buf is None or self.pos == self.chunk:
            n = self.chunk * self.batch_size
            self.buf = torch.stack([
                draw(self.cfg.kind, self.cfg.std, (n, *self.shape), generator=g)
                for g in self.generators]).to(self.device)
            self.pos = 0
        b = self.batch_size
        out = self.buf[:, self.pos * b:(self.pos + 1) * b]
        self.pos += 1
        return out, None


@dataclass
class SyntheticSource:
    """Gaussian / uniform inputs for seeds ``seeds`` under ``root_seed``."""

    cfg: DataConfig
    input_shape: tuple[int, ...]
    seeds: list[int]
    root_seed: int = 0
    device: torch.device | str = "cpu"

    def _per_seed(self, stream: str, n: int) -> Tensor:
        xs = [draw(self.cfg.kind, self.cfg.std, (n, *self.input_shape),
                   generator=generator(self.root_seed, s, stream)) for s in self.seeds]
        return torch.stack(xs).to(self.device)

    def eval_inputs(self) -> Tensor:
        return self._per_seed("eval", self.cfg.eval_size)

    def train_inputs(self) -> Tensor | None:
        if self.cfg.train_size is None:
            return None
        return self._per_seed("train", self.cfg.train_size)

    def stream(self, batch_size: int, train_x: Tensor | None = None) -> BatchStream:
        if self.cfg.train_size is None:
            gens = [generator(self.root_seed, s, "train") for s in self.seeds]
            return FreshStream(self.cfg, self.input_shape, batch_size, gens, self.device)
        x = train_x if train_x is not None else self.train_inputs()
        assert x is not None
        gens = [generator(self.root_seed, s, "shuffle") for s in self.seeds]
        return FiniteStream(x, batch_size, gens)
