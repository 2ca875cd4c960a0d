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


def generator_states(generators: Sequence[torch.Generator]) -> Tensor:
    """The states of ``generators`` stacked ``(S, L)`` (uint8), for checkpoints."""
    return torch.stack([g.get_state() for g in generators])


def set_generator_states(generators: Sequence[torch.Generator], states: Tensor) -> None:
    if states.shape[0] != len(generators):
        raise ValueError(f"checkpoint holds {states.shape[0]} generator states, "
                         f"the stream has {len(generators)}")
    for g, st in zip(generators, states, strict=True):
        g.set_state(st.clone())  # a fresh tensor: set_state ignores a storage offset


class _Resumable:
    """Checkpointing of a stream that draws in chunks: the generators' states just before the
    current chunk was drawn, and the position in it, are everything a resumed stream needs to
    continue bit-identically (it redraws the chunk)."""

    generators: list[torch.Generator]
    pos: int
    _before: Tensor | None = None  # generator states before the current chunk's draw

    def _remember(self) -> None:
        self._before = generator_states(self.generators)

    def _redraw(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Tensor]:
        drawn = self._before is not None
        states = self._before if drawn else generator_states(self.generators)
        return {"generator_states": states, "pos": torch.tensor([self.pos, int(drawn)])}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        set_generator_states(self.generators, state["generator_states"])
        pos, drawn = (int(v) for v in state["pos"])
        if drawn:
            self._redraw()
        self.pos = pos


class FiniteStream(_Resumable):
    """Iterates a fixed training set of N samples per seed in passes, each seed reshuffled
    with its own generator every pass; batches wrap across passes.

    Each pass gathers the permuted set once, so a batch is a contiguous slice (no per-step
    gather). ``targets (S, N, c)`` (teacher outputs) travel with their inputs.
    """

    def __init__(self, train_x: Tensor, batch_size: int, generators: list[torch.Generator],
                 targets: Tensor | None = None):
        self.tensors = [t for t in (train_x, targets) if t is not None]
        self.batch_size = batch_size
        self.generators = generators
        self.n = train_x.shape[1]
        self.has_targets = targets is not None
        self._new_pass()

    def _redraw(self) -> None:
        self._new_pass()

    def _new_pass(self) -> None:
        self._remember()
        perm = torch.stack([torch.randperm(self.n, generator=g) for g in self.generators])
        s = perm.shape[0]
        flat = (perm + torch.arange(s)[:, None] * self.n).flatten().to(self.tensors[0].device)
        # one index_select per pass: (S*N, ...) rows in per-seed permuted order
        self.pass_data = [t.reshape(s * self.n, *t.shape[2:]).index_select(0, flat)
                          .reshape(t.shape) for t in self.tensors]
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        b = self.batch_size
        if self.pos + b <= self.n:
            out = [t[:, self.pos:self.pos + b] for t in self.pass_data]
            self.pos += b
            if self.pos == self.n:
                self._new_pass()
        else:
            parts: list[list[Tensor]] = []
            need = b
            while need > 0:
                take = min(need, self.n - self.pos)
                parts.append([t[:, self.pos:self.pos + take] for t in self.pass_data])
                self.pos += take
                need -= take
                if self.pos == self.n:
                    self._new_pass()
            out = [torch.cat(ts, dim=1) for ts in zip(*parts, strict=True)]
        return out[0], (out[1] if self.has_targets else None)


class ReplacementStream(_Resumable):
    """Minibatches drawn i.i.d. with replacement from a fixed training set of N samples per
    seed (the two-layer original's ``random.choices``). Each seed's indices come from its own
    generator in chunks of ``chunk`` steps, so a seed's batches do not depend on the others."""

    def __init__(self, train_x: Tensor, batch_size: int, generators: list[torch.Generator],
                 targets: Tensor | None = None, chunk: int = 64):
        self.tensors = [t.reshape(t.shape[0] * t.shape[1], *t.shape[2:])
                        for t in (train_x, targets) if t is not None]  # (S*N, ...)
        self.num_seeds, self.n = train_x.shape[:2]
        self.batch_size, self.generators, self.chunk = batch_size, generators, chunk
        self.has_targets = targets is not None
        self.offset = (torch.arange(self.num_seeds) * self.n)[:, None]  # (S, 1)
        self.idx: Tensor | None = None
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        b = self.batch_size
        if self.idx is None or self.pos == self.chunk:
            self._redraw()
            self.pos = 0
        assert self.idx is not None
        rows = self.idx[:, self.pos * b:(self.pos + 1) * b].reshape(-1)  # (S*B,)
        self.pos += 1
        out = [t.index_select(0, rows).reshape(self.num_seeds, b, *t.shape[1:])
               for t in self.tensors]
        return out[0], (out[1] if self.has_targets else None)

    def _redraw(self) -> None:
        self._remember()
        idx = torch.stack([torch.randint(self.n, (self.chunk * self.batch_size,), generator=g)
                           for g in self.generators])  # (S, chunk*B)
        self.idx = (idx + self.offset).to(self.tensors[0].device)


class FreshStream(_Resumable):
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
            self._redraw()
            self.pos = 0
        b = self.batch_size
        out = self.buf[:, self.pos * b:(self.pos + 1) * b]
        self.pos += 1
        return out, None

    def _redraw(self) -> None:
        self._remember()
        n = self.chunk * self.batch_size
        self.buf = torch.stack([
            draw(c.kind, c.std, (n, *self.shape), generator=g, dtype=self.dtype)
            for c, g in zip(self.cfgs, self.generators, strict=True)]).to(self.device)


class RegeneratedStream:
    """A new training set every ``epoch_steps`` batches (``data.regenerate``, the original's
    ``regen_dataset`` flags). Epoch 0 uses the source's training set (and its targets); epoch
    k >= 1 a set of the same size drawn from stream ``train/k`` of each member's data seed, so
    epoch k's set does not depend on how training got there. Within an epoch the source's
    sampling rule applies (shuffled passes or with replacement), its shuffle generators carried
    over; regenerated sets come without targets (the engine runs the teacher on each batch)."""

    def __init__(self, source: SyntheticSource, batch_size: int, train_x: Tensor,
                 targets: Tensor | None, epoch_steps: int):
        self.source, self.batch_size, self.epoch_steps = source, batch_size, epoch_steps
        self.shuffle = source._gens("shuffle")
        self.epoch, self.step = 0, 0
        self.inner = source._sampler(train_x, batch_size, self.shuffle, targets)

    def next(self) -> tuple[Tensor, Tensor | None]:
        if self.step == self.epoch_steps:
            self.epoch, self.step = self.epoch + 1, 0
            x = self.source._train_set(f"train/{self.epoch}")
            self.inner = self.source._sampler(x, self.batch_size, self.shuffle, None)
        self.step += 1
        return self.inner.next()

    def state_dict(self) -> dict[str, Tensor]:
        inner = {f"inner.{k}": v for k, v in self.inner.state_dict().items()}
        return {"epoch_step": torch.tensor([self.epoch, self.step]), **inner}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        epoch, self.step = (int(v) for v in state["epoch_step"])
        if epoch != self.epoch:  # rebuild that epoch's set (it depends on the epoch only)
            x = self.source._train_set(f"train/{epoch}")
            self.inner = self.source._sampler(x, self.batch_size, self.shuffle, None)
            self.epoch = epoch
        self.inner.load_state_dict({k[6:]: v for k, v in state.items()
                                    if k.startswith("inner.")})


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
    regenerate_every: int | None = None  # steps per epoch when data.regenerate (issue 12)

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
        return self._train_set("train")

    def _train_set(self, stream: str) -> Tensor:
        """The finite training set drawn from generator stream ``stream`` (``train``, or
        ``train/k`` for epoch k of a regenerated run)."""
        return self._per_seed(stream, self.train_size)

    def stream(self, batch_size: int, train_x: Tensor | None = None,
               targets: Tensor | None = None) -> BatchStream:
        if self.train_size is None:
            return FreshStream(self.cfgs, self.input_shape, batch_size,
                               self._gens("train", self.data_seeds), self.device,
                               dtype=self.dtype)
        x = train_x if train_x is not None else self.train_inputs()
        assert x is not None
        if self.regenerate_every is not None:
            return RegeneratedStream(self, batch_size, x, targets, self.regenerate_every)
        return self._sampler(x, batch_size, self._gens("shuffle"), targets)

    def _sampler(self, x: Tensor, batch_size: int, gens: list[torch.Generator],
                 targets: Tensor | None) -> BatchStream:
        """Batches of the fixed training set ``x`` by this source's sampling rule."""
        if self.sampling == "replacement":
            return ReplacementStream(x, batch_size, gens, targets)
        return FiniteStream(x, batch_size, gens, targets)
