"""Batch streams: the training batches ``(S, B, ...)`` of S members, one step at a time.

Every stream draws from each member's own generators, so a member's batches do not depend on
which others run with it, and has ``state_dict()`` / ``load_state_dict()`` so that a
checkpointed run continues bit-identically (:mod:`relulab.training.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from relulab.config import DataConfig


class TrainSets(Protocol):
    """What :class:`RegeneratedStream` needs of its source: each member's generators of a named
    stream, a training set drawn from such a stream, and batches of a set by the source's
    sampling rule."""

    def generators(self, stream: str) -> list[torch.Generator]: ...

    def train_set(self, stream: str) -> Tensor: ...

    def sampler(self, x: Tensor, batch_size: int, gens: list[torch.Generator],
                targets: Tensor | None): ...


def draw(kind: str, std: float, shape: tuple[int, ...], *, generator: torch.Generator,
         device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """Samples of N(0, std^2) (gaussian) or U(-std/2, std/2) (uniform: the original code's
    convention, a box of width ``std``), returned as ``dtype``. Always drawn in float32, so a
    seed sees the same data in float32 and float64 runs (they differ only by precision)."""
    if kind != "uniform":  # gaussian; theory_suggested's eval set is Gaussian too
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
    ``chunk`` steps. Its checkpoint state is the generators' states just before the current
    chunk was drawn and the position in it: a restored stream redraws that chunk."""

    def __init__(self, cfgs: list[DataConfig], shape: tuple[int, ...], batch_size: int,
                 generators: list[torch.Generator], device: torch.device | str,
                 chunk: int = 64, dtype: torch.dtype = torch.float32):
        self.cfgs, self.shape, self.batch_size = cfgs, shape, batch_size
        self.generators, self.device, self.chunk = generators, device, chunk
        self.dtype = dtype
        self.buf: Tensor | None = None
        self.before: Tensor | None = None  # generator states before the current chunk's draw
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        if self.buf is None or self.pos == self.chunk:
            self._redraw()
            self.pos = 0
        b = self.batch_size
        out = self.buf[:, self.pos * b:(self.pos + 1) * b]
        self.pos += 1
        return out, None

    def _redraw(self) -> None:
        self.before = generator_states(self.generators)
        n = self.chunk * self.batch_size
        self.buf = torch.stack([
            draw(c.kind, c.std, (n, *self.shape), generator=g, dtype=self.dtype)
            for c, g in zip(self.cfgs, self.generators, strict=True)]).to(self.device)

    def state_dict(self) -> dict[str, Tensor]:
        drawn = self.before is not None
        states = self.before if drawn else generator_states(self.generators)
        return {"generator_states": states, "pos": torch.tensor([self.pos, int(drawn)])}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        set_generator_states(self.generators, state["generator_states"])
        pos, drawn = (int(v) for v in state["pos"])
        if drawn:
            self._redraw()
        self.pos = pos


class RegeneratedStream:
    """A new training set every ``epoch_steps`` batches (``data.regenerate``, the original's
    ``regen_dataset`` flags). Epoch 0 uses the source's training set (and its targets); epoch
    k >= 1 a set of the same size drawn from stream ``train/k`` of each member's data seed, so
    epoch k's set does not depend on how training got there. Within an epoch the source's
    sampling rule applies (shuffled passes or with replacement), its shuffle generators carried
    over; regenerated sets come without targets (the engine runs the teacher on each batch)."""

    def __init__(self, source: TrainSets, batch_size: int, train_x: Tensor,
                 targets: Tensor | None, epoch_steps: int):
        self.source, self.batch_size, self.epoch_steps = source, batch_size, epoch_steps
        self.shuffle = source.generators("shuffle")
        self.epoch, self.step = 0, 0
        self.inner = source.sampler(train_x, batch_size, self.shuffle, targets)

    def next(self) -> tuple[Tensor, Tensor | None]:
        if self.step == self.epoch_steps:
            self.epoch, self.step = self.epoch + 1, 0
            x = self.source.train_set(f"train/{self.epoch}")
            self.inner = self.source.sampler(x, self.batch_size, self.shuffle, None)
        self.step += 1
        return self.inner.next()

    def state_dict(self) -> dict[str, Tensor]:
        inner = {f"inner.{k}": v for k, v in self.inner.state_dict().items()}
        return {"epoch_step": torch.tensor([self.epoch, self.step]), **inner}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        epoch, self.step = (int(v) for v in state["epoch_step"])
        if epoch != self.epoch:  # rebuild that epoch's set (it depends on the epoch only)
            x = self.source.train_set(f"train/{epoch}")
            self.inner = self.source.sampler(x, self.batch_size, self.shuffle, None)
            self.epoch = epoch
        self.inner.load_state_dict({k[6:]: v for k, v in state.items()
                                    if k.startswith("inner.")})
