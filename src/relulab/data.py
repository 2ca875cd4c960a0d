"""Data sources: per-seed input sets and batch streams.

A :class:`DataSource` gives, for S seeds, an eval set ``(S, N_eval, *input_shape)`` and a
:class:`BatchStream` of training inputs ``(S, B, *input_shape)`` per step. Synthetic sources
draw from each seed's own generators (streams "train", "eval", "shuffle"), so a seed's data does
not depend on which batch of seeds it runs in. Real data (a later issue) plugs in by providing
the same two methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from relulab.config import DataConfig, RunConfig
from relulab.networks import input_shape
from relulab.rng import data_seed, generator


class BatchStream(Protocol):
    def next(self) -> tuple[Tensor, Tensor | None]:
        """Inputs ``(S, B, ...)`` and their targets ``(S, B, c)`` when the stream carries
        precomputed targets (None otherwise: the caller runs the teacher)."""
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


def draw(kind: str, std: float, shape: tuple[int, ...], *, generator: torch.Generator,
         device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """Samples of N(0, std^2) (gaussian) or U(-std/2, std/2) (uniform: the original code's
    convention, a box of width ``std``), returned as ``dtype``. Always drawn in float32, so a
    seed sees the same data in float32 and float64 runs (they differ only by precision)."""
    if kind == "gaussian":
        x = torch.randn(shape, generator=generator, device=device) * std
    else:
        x = (torch.rand(shape, generator=generator, device=device) - 0.5) * std
    return x.to(dtype)


def _flat(tensors: Sequence[Tensor | None]) -> list[Tensor]:
    """``(S, N, ...)`` tensors (Nones dropped) as ``(S*N, ...)`` row tables."""
    return [t.reshape(t.shape[0] * t.shape[1], *t.shape[2:]) for t in tensors if t is not None]


def _gather(tables: list[Tensor], rows: Tensor, num_seeds: int) -> list[Tensor]:
    """Rows ``(S, B)`` of flat row tables ``(S*N, ...)`` -> ``(S, B, ...)`` each: one
    index_select per table per step, never a copy of the whole set."""
    flat = rows.reshape(-1)
    return [t.index_select(0, flat).reshape(num_seeds, -1, *t.shape[1:]) for t in tables]


def generator_states(generators: Sequence[torch.Generator]) -> Tensor:
    """The states of S generators ``(S, L)`` uint8 (for a stream's ``state_dict``)."""
    return torch.stack([g.get_state() for g in generators])


def set_generator_states(generators: Sequence[torch.Generator], states: Tensor) -> None:
    if states.shape[0] != len(generators):
        raise ValueError(f"state holds {states.shape[0]} generators, stream has "
                         f"{len(generators)}")
    for g, st in zip(generators, states, strict=True):
        g.set_state(st.cpu().clone())  # a view of the stacked states crashes set_state


class FiniteStream:
    """Iterates a fixed training set of N samples per seed in passes, each seed reshuffled
    with its own generator every pass; batches wrap across passes.

    Each step gathers its ``S x B`` rows (inputs and, if given, teacher ``targets (S, N, c)``)
    through the seeds' permutations ``(S, N)``; the set itself is never rewritten.
    """

    def __init__(self, train_x: Tensor, batch_size: int, generators: list[torch.Generator],
                 targets: Tensor | None = None):
        self.tables = _flat([train_x, targets])  # (S*N, ...)
        self.num_seeds, self.n = train_x.shape[:2]
        self.batch_size, self.generators = batch_size, generators
        self.has_targets = targets is not None
        self.offset = (torch.arange(self.num_seeds) * self.n)[:, None].to(train_x.device)
        self._new_pass()

    def _new_pass(self) -> None:
        perm = torch.stack([torch.randperm(self.n, generator=g) for g in self.generators])
        self.rows = perm.to(self.offset.device) + self.offset  # (S, N) rows of this pass
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        b = self.batch_size
        if self.pos + b <= self.n:
            rows = self.rows[:, self.pos:self.pos + b]
            self.pos += b
            if self.pos == self.n:
                self._new_pass()
        else:
            parts, need = [], b
            while need > 0:
                take = min(need, self.n - self.pos)
                parts.append(self.rows[:, self.pos:self.pos + take])
                self.pos += take
                need -= take
                if self.pos == self.n:
                    self._new_pass()
            rows = torch.cat(parts, dim=1)
        out = _gather(self.tables, rows, self.num_seeds)
        return out[0], (out[1] if self.has_targets else None)

    def state_dict(self) -> dict[str, Tensor]:
        """Everything :meth:`next` depends on besides the data: generator states, this
        pass's permutation, the position in it."""
        return {"generators": generator_states(self.generators),
                "perm": (self.rows - self.offset).cpu(), "pos": torch.tensor(self.pos)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if tuple(state["perm"].shape) != (self.num_seeds, self.n):
            raise ValueError(f"state is for {tuple(state['perm'].shape)} (seeds, samples), "
                             f"stream has {(self.num_seeds, self.n)}")
        set_generator_states(self.generators, state["generators"])
        self.rows = state["perm"].to(self.offset.device) + self.offset
        self.pos = int(state["pos"])


class ReplacementStream:
    """Minibatches drawn i.i.d. with replacement from a fixed training set of N samples per
    seed (the two-layer original's ``random.choices``). Each seed's indices come from its own
    generator in chunks of ``chunk`` steps, so a seed's batches do not depend on the others."""

    def __init__(self, train_x: Tensor, batch_size: int, generators: list[torch.Generator],
                 targets: Tensor | None = None, chunk: int = 64):
        self.tables = _flat([train_x, targets])  # (S*N, ...)
        self.num_seeds, self.n = train_x.shape[:2]
        self.batch_size, self.generators, self.chunk = batch_size, generators, chunk
        self.has_targets = targets is not None
        self.offset = (torch.arange(self.num_seeds) * self.n)[:, None]  # (S, 1)
        self.idx: Tensor | None = None  # (S, chunk*B) rows of the current chunk
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        b = self.batch_size
        if self.idx is None or self.pos == self.chunk:
            idx = torch.stack([torch.randint(self.n, (self.chunk * b,), generator=g)
                               for g in self.generators])  # (S, chunk*B)
            self.idx = (idx + self.offset).to(self.tables[0].device)
            self.pos = 0
        rows = self.idx[:, self.pos * b:(self.pos + 1) * b]  # (S, B)
        self.pos += 1
        out = _gather(self.tables, rows, self.num_seeds)
        return out[0], (out[1] if self.has_targets else None)

    def state_dict(self) -> dict[str, Tensor]:
        """Generator states, the current chunk's indices (empty before the first draw), the
        position in it."""
        idx = (torch.zeros(self.num_seeds, 0, dtype=torch.int64) if self.idx is None
               else self.idx.cpu() - self.offset)
        return {"generators": generator_states(self.generators), "idx": idx,
                "pos": torch.tensor(self.pos)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        idx = state["idx"]
        if idx.shape[0] != self.num_seeds or idx.shape[1] not in (0, self.chunk * self.batch_size):
            raise ValueError(f"state indices {tuple(idx.shape)} do not fit this stream")
        set_generator_states(self.generators, state["generators"])
        self.idx = None if idx.shape[1] == 0 else (idx + self.offset).to(self.tables[0].device)
        self.pos = int(state["pos"])


class FreshStream:
    """Fresh samples every step, drawn per seed (own generator, own distribution) in chunks of
    ``chunk`` steps."""

    def __init__(self, cfgs: list[DataConfig], shape: tuple[int, ...], batch_size: int,
                 generators: list[torch.Generator], device: torch.device | str,
                 chunk: int = 64, dtype: torch.dtype = torch.float32):
        self.cfgs, self.shape, self.batch_size = cfgs, shape, batch_size
        self.generators, self.device, self.chunk = generators, device, chunk
        self.dtype = dtype
        self.buf: Tensor | None = None
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        if self.buf is None or self.pos == self.chunk:
            n = self.chunk * self.batch_size
            self.buf = torch.stack([
                draw(c.kind, c.std, (n, *self.shape), generator=g, dtype=self.dtype)
                for c, g in zip(self.cfgs, self.generators, strict=True)]).to(self.device)
            self.pos = 0
        b = self.batch_size
        out = self.buf[:, self.pos * b:(self.pos + 1) * b]
        self.pos += 1
        return out, None


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
                   [data_seed(s, c.shared_teacher) for c, s in zip(cfgs, seeds, strict=True)])

    def _gens(self, stream: str, seeds: list[int] | None = None) -> list[torch.Generator]:
        seeds = self.seeds if seeds is None else seeds
        return [generator(r, s, stream) for r, s in zip(self.root_seeds, seeds, strict=True)]

    def _per_seed(self, stream: str, n: int) -> Tensor:
        gens = self._gens(stream, self.data_seeds)
        xs = [draw(c.kind, c.std, (n, *self.input_shape), generator=g, dtype=self.dtype)
              for c, g in zip(self.cfgs, gens, strict=True)]
        return torch.stack(xs).to(self.device)

    def eval_inputs(self) -> Tensor:
        return self._per_seed("eval", self.eval_size)

    def train_inputs(self) -> Tensor | None:
        if self.train_size is None:
            return None
        return self._per_seed("train", self.train_size)

    def stream(self, batch_size: int, train_x: Tensor | None = None,
               targets: Tensor | None = None) -> BatchStream:
        if self.train_size is None:
            return FreshStream(self.cfgs, self.input_shape, batch_size,
                               self._gens("train", self.data_seeds), self.device,
                               dtype=self.dtype)
        x = train_x if train_x is not None else self.train_inputs()
        assert x is not None
        if self.sampling == "replacement":
            return ReplacementStream(x, batch_size, self._gens("shuffle"), targets)
        return FiniteStream(x, batch_size, self._gens("shuffle"), targets)
