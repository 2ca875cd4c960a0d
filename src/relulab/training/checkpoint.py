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


# --- the engine's loop <-> a state ----------------------------------------------------------

def capture(run: Any) -> TrainState:
    """The state of the engine's loop ``run`` (a ``relulab.training.engine._Run``) between two
    steps."""
    st = TrainState(run.step, run.epoch, run.epoch_steps)
    s = run.student
    st.put("student", {f"p{i}": t for i, t in enumerate(s.parameters())}
           | {f"bn_mean{i}": t for i, t in enumerate(s.bn_mean)}
           | {f"bn_var{i}": t for i, t in enumerate(s.bn_var)})
    opt_tensors, opt_other = flatten_state(run.opt_state)
    st.put("opt", opt_tensors)
    st.put("stream", run.stream.state_dict())
    loop = {"train_loss": run.train_loss}
    loop |= {"loss_sum": run.loss_sum} if run.loss_sum is not None else {}
    loop |= {"eval_loss": run.eval_loss} if run.eval_loss is not None else {}
    grad_norms = getattr(run, "grad_norms", None)  # running epoch gradient norms
    if grad_norms is not None and grad_norms.total is not None:
        loop["grad_total"] = grad_norms.total
    st.put("loop", loop)
    st.meta.update(opt_other=opt_other, rows=run.rows, all_alive=run.all_alive,
                   grad_steps=0 if grad_norms is None else grad_norms.steps)
    return st


def restore(run: Any, st: TrainState) -> None:
    """Continue ``run`` (freshly set up from the same configs and seeds) from ``st``."""
    if not st.step <= run.total:
        raise CheckpointError(f"checkpoint is at step {st.step}, past this run's {run.total}")
    student, n = st.sub("student"), len(run.student.parameters())
    params = [student.get(f"p{i}") for i in range(n)]
    old = run.student.parameters()
    if any(p is None or p.shape != q.shape for p, q in zip(params, old, strict=True)):
        raise CheckpointError("checkpoint student does not fit this run's shapes")
    dev, dtype = run.eval_x.device, run.eval_x.dtype
    run.student = run.student.with_parameters(
        [p.to(dev, q.dtype) for p, q in zip(params, old, strict=True)])
    for name in ("bn_mean", "bn_var"):
        for i, t in enumerate(getattr(run.student, name)):
            t.copy_(student[f"{name}{i}"])
    run.opt_state = unflatten_state(run.opt_state, st.sub("opt"), st.meta.get("opt_other", []))
    run.stream.load_state_dict(st.sub("stream"))
    loop = {k: v.to(dev, dtype) for k, v in st.sub("loop").items()}
    run.train_loss, run.loss_sum = loop["train_loss"], loop.get("loss_sum")
    run.eval_loss = loop.get("eval_loss")
    if getattr(run, "grad_norms", None) is not None:
        run.grad_norms.total = loop.get("grad_total")
        run.grad_norms.steps = int(st.meta.get("grad_steps", 0))
    run.step, run.epoch, run.epoch_steps = st.step, st.epoch, st.epoch_steps
    run.rows = list(st.meta.get("rows", []))
    run.all_alive = bool(st.meta.get("all_alive", True))
