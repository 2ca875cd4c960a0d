"""The objective and the optimizers on stacked parameters (pure functions, optax's shape).

The objective is ``scale`` x the per-seed MSE (:func:`loss_scale`); :func:`loss_and_grads`
gives its gradient per member.

An :class:`Optimizer` is ``init(params) -> state`` and
``update(grads, state, params, lr) -> (new_params, new_state)``; parameters carry the leading
seed axis S and ``lr`` is a float or a per-member tensor ``(S,)``. Nothing is updated in place.

SGD (as ``torch.optim.SGD``, weight decay added to the gradient):

.. math::  g \\leftarrow g + \\lambda p,\\quad b_t = \\mu b_{t-1} + g\\ (b_1 = g),\\quad
           p \\leftarrow p - \\eta\\, b_t

Adam (as ``torch.optim.Adam``, eps 1e-8):

.. math::  m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g,\\quad v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g^2,
           \\quad p \\leftarrow p - \\eta\\, \\frac{m_t / (1-\\beta_1^t)}{\\sqrt{v_t/(1-\\beta_2^t)}
           + \\epsilon}

:func:`apply_if_finite` wraps an optimizer so that a member whose loss is not finite is frozen
from then on (optax's ``apply_if_finite``, per member): its parameters and optimizer state keep
their last values, and the other members are unaffected because every op is per member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from relulab.config import OptimConfig, RunConfig
from relulab.nets import passes
from relulab.nets.networks import Net, forward, hidden_only

ADAM_EPS = 1e-8

Params = tuple[Tensor, ...]


# --- the objective ---------------------------------------------------------------------------

def mse_per_seed(out: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over samples and outputs: ``(S, N, c) -> (S,)``."""
    return (out - target).pow(2).mean(dim=(1, 2))


def cross_entropy_per_seed(out: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of logits ``out (S, N, c)`` against the class ``argmax`` of the teacher's
    outputs ``target (S, N, c)``, mean over samples: ``(S,)`` (the multilayer original's
    ``cross_entropy`` flag: ``nn.CrossEntropyLoss()(out, target.max(1)[1])``)."""
    labels = target.argmax(dim=-1)  # (S, N)
    return torch.nn.functional.cross_entropy(out.transpose(1, 2), labels,
                                             reduction="none").mean(dim=1)


def loss_per_seed(out: Tensor, target: Tensor, loss: str = "mse") -> Tensor:
    """The logged loss ``(S,)``: the MSE (for ``mse`` and ``half_sum``, as the original logs
    them) or the cross-entropy (``cross_entropy``)."""
    return cross_entropy_per_seed(out, target) if loss == "cross_entropy" else \
        mse_per_seed(out, target)


@torch.no_grad()
def loss_chunked(net: Net, x: Tensor, y: Tensor, loss: str = "mse",
                 budget_bytes: int = 16 << 20) -> Tensor:
    """:func:`loss_per_seed` of ``net`` on ``(x (S, N, ...), y (S, N, c))``, streamed in chunks
    whose activations take about ``budget_bytes``: the whole output ``(S, N, c)`` (384 MB for
    192 members x 10000 samples x 50 outputs) is never held, so each chunk stays in cache."""
    s, n = x.shape[:2]
    total = torch.zeros(s, dtype=torch.float64, device=x.device)
    top = passes.top_layer(net) if loss != "cross_entropy" and net.depth > 0 else None
    if top is not None and net.plain_fc:  # fc: buffered chunks, those of every eval-loss pass
        for rows, post in passes.hidden_chunks(net, x, passes.eval_chunk(net, x)):
            total += passes.output_sq_error(post[-1], top, y[:, rows])
        return (total / n).to(x.dtype)
    probe = forward(net, x[:, :1])
    per_sample = sum(a.numel() for a in probe.post) + probe.output.numel()  # over S nets
    size = max(1, budget_bytes // (x.element_size() * per_sample))
    body = hidden_only(net)
    for i in range(0, n, size):
        xc, yc = x[:, i:i + size], y[:, i:i + size]
        if top is None:
            total += loss_per_seed(forward(net, xc).output, yc, loss).double() * xc.shape[1]
            continue
        h = forward(body, xc).post[-1].flatten(2)  # (S, L, n_L), conv / BN nets
        total += passes.output_sq_error(h, top, yc)
    return (total / n).to(x.dtype)


def loss_scale(cfg: RunConfig) -> float:
    """The training objective over the MSE: 1 for ``loss=mse`` (torch ``MSELoss``), c/2 for
    ``loss=half_sum`` ((1/B) Σ_batch ½ Σ_outputs (y* − y)², the two-layer original's update
    ``W ← W + lr·(1/B)·hᵀ(y* − y)``)."""
    return cfg.teacher.output_dim / 2.0 if cfg.optim.loss == "half_sum" else 1.0


def loss_and_grads(student: Net, x: Tensor, y: Tensor, *, train: bool = True,
                   scale: float = 1.0, loss: str = "mse") -> tuple[Tensor, tuple[Tensor, ...]]:
    """Per-seed loss ``(S,)`` of ``student`` on ``(x, y)`` (:func:`loss_per_seed` of ``loss``)
    and the gradients of ``scale`` x that loss (the objective, see :func:`loss_scale`) with
    respect to ``student.parameters()`` (weights then biases, leading S axis). The seeds'
    losses are independent, so the gradient of their sum is each seed's own gradient."""
    if not all(p.requires_grad for p in student.parameters()):
        student = student.with_parameters([p.detach().requires_grad_(True)
                                           for p in student.parameters()])
    params = student.parameters()
    with torch.enable_grad():
        value = loss_per_seed(forward(student, x, train=train).output, y, loss)
        return value.detach(), torch.autograd.grad(value.sum() * scale, params)


# --- optimizers -----------------------------------------------------------------------------

class Optimizer(NamedTuple):
    init: Callable[[Sequence[Tensor]], Any]
    update: Callable[..., tuple[Params, Any]]


class OptState(NamedTuple):
    count: int  # updates taken (Adam's bias correction; SGD's first momentum step)
    slots: tuple[tuple[Tensor, ...], ...]  # per parameter: () | (momentum,) | (m, v)


class FiniteState(NamedTuple):
    inner: Any  # the wrapped optimizer's state
    alive: Tensor  # (S,) bool: members whose loss has been finite at every step so far


def _descend(p: Tensor, direction: Tensor, lr: float | Tensor) -> Tensor:
    """``p - lr * direction`` with a scalar or per-member ``lr (S,)``."""
    if isinstance(lr, Tensor):
        return torch.addcmul(p, direction, lr.reshape((-1,) + (1,) * (p.dim() - 1)), value=-1.0)
    return p.sub(direction, alpha=lr)


def sgd(momentum: float = 0.0, weight_decay: float = 0.0) -> Optimizer:
    """SGD with heavy-ball momentum (no dampening) and L2 weight decay, as ``torch.optim.SGD``."""

    def init(params: Sequence[Tensor]) -> OptState:
        slots = tuple((torch.zeros_like(p),) if momentum else () for p in params)
        return OptState(0, slots)

    @torch.no_grad()
    def update(grads: Sequence[Tensor], state: OptState, params: Sequence[Tensor],
               lr: float | Tensor) -> tuple[Params, OptState]:
        new_params, new_slots = [], []
        for p, g, slots in zip(params, grads, state.slots, strict=True):
            if weight_decay:
                g = g.add(p, alpha=weight_decay)
            if momentum:
                g = g if state.count == 0 else slots[0] * momentum + g  # torch: b_1 = g
                slots = (g,)
            new_params.append(_descend(p, g, lr))
            new_slots.append(slots)
        return tuple(new_params), OptState(state.count + 1, tuple(new_slots))

    return Optimizer(init, update)


def adam(betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0) -> Optimizer:
    """Adam with L2 weight decay added to the gradient, as ``torch.optim.Adam``."""
    b1, b2 = betas

    def init(params: Sequence[Tensor]) -> OptState:
        return OptState(0, tuple((torch.zeros_like(p), torch.zeros_like(p)) for p in params))

    @torch.no_grad()
    def update(grads: Sequence[Tensor], state: OptState, params: Sequence[Tensor],
               lr: float | Tensor) -> tuple[Params, OptState]:
        t = state.count + 1
        new_params, new_slots = [], []
        for p, g, (m, v) in zip(params, grads, state.slots, strict=True):
            if weight_decay:
                g = g.add(p, alpha=weight_decay)
            m = m * b1 + (1 - b1) * g
            v = v * b2 + (1 - b2) * g * g
            direction = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + ADAM_EPS)
            new_params.append(_descend(p, direction, lr))
            new_slots.append((m, v))
        return tuple(new_params), OptState(t, tuple(new_slots))

    return Optimizer(init, update)


def from_config(cfg: OptimConfig) -> Optimizer:
    """The optimizer ``cfg`` names (``gd`` is SGD on the full training set)."""
    if cfg.name == "adam":
        return adam(cfg.betas, cfg.weight_decay)
    return sgd(cfg.momentum, cfg.weight_decay)


def _select(alive: Tensor, new: Any, old: Any) -> Any:
    """``new`` where ``alive`` (per member, leading axis S), else ``old``, for every tensor of
    two equally shaped (nested tuple) states; non-tensors (step counts) are taken from ``new``:
    a frozen member never resumes, so its count is never used again."""
    if isinstance(new, Tensor):
        return torch.where(alive.reshape((-1,) + (1,) * (new.dim() - 1)), new, old)
    if isinstance(new, tuple):
        parts = [_select(alive, a, b) for a, b in zip(new, old, strict=True)]
        return type(new)(*parts) if hasattr(new, "_fields") else tuple(parts)  # NamedTuple
    return new


def apply_if_finite(inner: Optimizer) -> Optimizer:
    """``inner`` with NaN isolation: ``update(grads, state, params, lr, loss)`` takes the
    per-member loss ``(S,)`` of this step; a member whose loss is not finite (now or at any
    earlier step) keeps its parameters and optimizer state unchanged."""

    def init(params: Sequence[Tensor]) -> FiniteState:
        alive = torch.ones(params[0].shape[0], dtype=torch.bool, device=params[0].device)
        return FiniteState(inner.init(params), alive)

    @torch.no_grad()
    def update(grads: Sequence[Tensor], state: FiniteState, params: Sequence[Tensor],
               lr: float | Tensor, loss: Tensor) -> tuple[Params, FiniteState]:
        alive = state.alive & torch.isfinite(loss)
        new_params, new_inner = inner.update(grads, state.inner, params, lr)
        if not bool(alive.all()):
            new_params = _select(alive, new_params, tuple(params))
            new_inner = _select(alive, new_inner, state.inner)
        return new_params, FiniteState(new_inner, alive)

    return Optimizer(init, update)


def counted(state: FiniteState) -> FiniteState:
    """``state`` after one update taken outside :func:`apply_if_finite`'s ``update`` (the fused
    SGD step, which has no optimizer state but the count)."""
    return state._replace(inner=state.inner._replace(count=state.inner.count + 1))
