"""Training checkpoints: everything a batched run needs to continue bit-identically.

A :class:`TrainState` holds tensors (student parameters and BatchNorm statistics, optimizer
state, the data stream's generator states, the running epoch loss) and JSON-able metadata (step,
epochs done, rows recorded so far, the callbacks' own state). It is written as one safetensors
file (tensors + a JSON metadata string; no pickle), atomically (temp file + rename), so a
killed writer leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils import _pytree as pytree

from relulab.results.store import atomic_write

FORMAT = "relulab.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for this run (one-line message)."""


@dataclass
class TrainState:
    """A training run between two steps: ``step`` steps done, ``epoch`` whole epochs done and
    ``epoch_steps`` steps into the next one. ``tensors`` keys: ``student.*``, ``opt.*``,
    ``stream.*``, ``loop.*``, and ``cb.*`` for callbacks' tensors; ``meta`` is JSON."""

    step: int
    epoch: int
    epoch_steps: int
    tensors: dict[str, Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def sub(self, prefix: str) -> dict[str, Tensor]:
        """The tensors under ``prefix.`` with the prefix removed."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def put(self, prefix: str, tensors: dict[str, Tensor]) -> None:
        self.tensors.update({f"{prefix}.{k}": v for k, v in tensors.items()})


def flatten_state(tree: Any) -> tuple[dict[str, Tensor], list[Any]]:
    """Tensors of a nested (Named)tuple state as ``{"0": t0, "1": t1, ...}`` plus the
    non-tensor leaves (e.g. step counts) in order."""
    leaves, _ = pytree.tree_flatten(tree)
    tensors = {str(i): x for i, x in enumerate(leaves) if isinstance(x, Tensor)}
    others = [x for x in leaves if not isinstance(x, Tensor)]
    return tensors, others


def unflatten_state(template: Any, tensors: dict[str, Tensor], others: list[Any]) -> Any:
    """Rebuild a state shaped like ``template`` from :func:`flatten_state`'s output (tensors
    moved to the template's device and dtype; shapes must match)."""
    leaves, spec = pytree.tree_flatten(template)
    rest = iter(others)
    out = []
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, Tensor):
            t = tensors.get(str(i))
            if t is None or t.shape != leaf.shape:
                raise CheckpointError("checkpoint optimizer state does not fit this run")
            out.append(t.to(device=leaf.device, dtype=leaf.dtype))
        else:
            out.append(next(rest))
    return pytree.tree_unflatten(out, spec)


def save(path: str | os.PathLike, state: TrainState, info: dict[str, Any]) -> None:
    """Write ``state`` (and ``info``: config hash, seeds, ...) to ``path`` atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {"format": FORMAT, "info": info, "step": state.step, "epoch": state.epoch,
            "epoch_steps": state.epoch_steps, "meta": state.meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"relulab": json.dumps(meta)}))


def load(path: str | os.PathLike) -> tuple[TrainState, dict[str, Any]]:
    """The state and info written by :func:`save` (CheckpointError if unreadable)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get("relulab")
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise CheckpointError(f"unreadable checkpoint '{path}': {exc}") from None
    try:
        meta = json.loads(raw or "")
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a relulab checkpoint ({FORMAT})")
    state = TrainState(int(meta["step"]), int(meta["epoch"]), int(meta["epoch_steps"]),
                       tensors, meta.get("meta", {}))
    return state, meta.get("info", {})
