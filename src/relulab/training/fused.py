"""Fused SGD step for batched fully connected students (no BatchNorm, plain SGD).

The forward is :func:`relulab.nets.networks.forward`; the backward of the per-seed MSE is written by
hand with the update folded into the weight-gradient matmul (``W <- W - lr * dZ^T H`` as one
``baddbmm_``), so a step is a handful of batched matmuls and no autograd graph. The same
update as :func:`relulab.training.optim.loss_and_grads` then ``W -= lr * grad`` (tested in float64).

Two forms: :func:`sgd_step` updates the net's own tensors in place (any fc net, Leaky ReLU
too); :class:`WorkingSGD` (ReLU nets the engine trains without per-step rules) keeps the
parameters in GEMM-friendly storage that the trained net's tensors are views of: row-major
right operands, biases folded into the GEMMs, no allocation per step (1.2-2.5x faster on
CPU at the paper sweep's shapes). :func:`fast_step` picks one.

The working-storage step runs eager: under ``torch.compile`` (inductor, CPU) it is no faster
at the smallest paper group, where per-op overhead weighs most (0.87-0.97x, plus seconds of
compiling; ``benchmarks/compiled_step.py``).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from relulab.nets.networks import Net, forward, gate


@torch.no_grad()
def sgd_step(net: Net, x: Tensor, y: Tensor, lr: float | Tensor, scale: float = 1.0
             ) -> Tensor | None:
    """One SGD step on all seeds in place on ``scale`` x MSE (``scale`` = c/2 is the two-layer
    original's ½·Σ_outputs loss, see :func:`relulab.training.optim.loss_scale`); returns the
    per-seed MSE ``(S,)``.

    If any seed's loss is not finite nothing is updated and None is returned (the caller then
    takes the masked general path for this step).
    """
    fw = forward(net, x)  # pre-activations and activations are kept for the backward
    diff = fw.output.sub_(y)  # (S, B, c)
    loss = diff.square().mean(dim=(1, 2))
    if not bool(torch.isfinite(loss).all()):
        return None
    hs = (x, *fw.post)  # input of every layer
    s, b, c = diff.shape
    # d(scale * mean over B*c of diff^2)/d out = 2 scale diff / (B c); fold -lr in once
    grad_scale = 2.0 * scale / (b * c)
    if isinstance(lr, Tensor):
        delta = diff.mul_(grad_scale * lr.reshape(-1, 1, 1))
        step = 1.0
    else:
        delta = diff.mul_(grad_scale)
        step = lr
    for layer in range(net.depth, -1, -1):
        w = net.weights[layer]
        below = torch.bmm(delta, w) if layer > 0 else None  # uses W before its update
        w.baddbmm_(delta.transpose(1, 2), hs[layer], alpha=-step)
        net.biases[layer].add_(delta.sum(dim=1), alpha=-step)
        if below is not None and net.leaky_slope == 0.0:  # ReLU: one op keeps dZ where h > 0
            delta = torch.ops.aten.threshold_backward(below, fw.post[layer - 1], 0.0)
        elif below is not None:
            delta = below.mul_(gate(fw.pre[layer - 1], net.leaky_slope))
    return loss


class WorkingSGD:
    """The fused SGD step on parameters held in GEMM-friendly working storage.

    A batched GEMM on CPU runs ~1.5x faster when its right operand is row-major, and a bias
    broadcast costs a copy per layer per step. So the first layer is held as ``W_1^T``
    ``(S, d, n_1)`` with its bias ``(S, 1, n_1)``, and every layer above as ``[W_l^T; b_l]``
    ``(S, n_{l-1} + 1, n_l)`` fed by activations with a ones column, so that its forward and
    its update (weights and bias) are one GEMM each. Activations live in preallocated buffers.

    :attr:`net` is the student whose weights and biases are views of this storage (always
    current, no copy back); the engine trains ``net`` and rebuilds a :class:`WorkingSGD` when
    the student it holds is another object (after the general path or a checkpoint restore).
    Same update as :func:`sgd_step` up to rounding (tested against autograd).
    """

    def __init__(self, net: Net, batch_size: int):
        s, b = net.num_seeds, batch_size
        w0 = net.weights[0]
        self.w0t = w0.transpose(1, 2).contiguous()  # (S, d, n_1)
        self.b0 = net.biases[0].detach().clone().reshape(s, 1, -1)  # (S, 1, n_1)
        self.upper = [torch.cat([w.transpose(1, 2), bias.unsqueeze(1)], 1).contiguous()
                      for w, bias in zip(net.weights[1:], net.biases[1:], strict=True)]
        like = {"dtype": w0.dtype, "device": w0.device}
        widths = net.widths
        self.z = [torch.empty(s, b, n, **like) for n in widths]  # pre-activations
        self.h = [torch.ones(s, b, n + 1, **like) for n in widths]  # [relu(z), 1]
        self.out = torch.empty(s, b, net.weights[-1].shape[1], **like)
        self.below = [torch.empty(s, b, n, **like) for n in widths]
        self.ones = torch.ones(s, 1, b, **like)
        views = [self.w0t.transpose(1, 2)] + [u[:, :-1].transpose(1, 2) for u in self.upper]
        biases = [self.b0.reshape(s, -1)] + [u[:, -1] for u in self.upper]
        self.net = dataclasses.replace(net, weights=tuple(views), biases=tuple(biases))
        self.batch_size = b

    @classmethod
    def holding(cls, current: WorkingSGD | None, net: Net, batch_size: int) -> WorkingSGD:
        """``current`` if it holds ``net`` at this batch size, else a new one built from it."""
        if current is not None and current.net is net and current.batch_size == batch_size:
            return current
        return cls(net, batch_size)

    @torch.no_grad()
    def step(self, x: Tensor, y: Tensor, lr: float | Tensor, scale: float = 1.0
             ) -> Tensor | None:
        """One SGD step of every member on ``scale`` x MSE; returns the per-seed MSE ``(S,)``,
        or None (nothing updated) when a member's loss is not finite."""
        s, b, c = self.out.shape
        if x.shape[1] != b:
            raise ValueError(f"batch of {x.shape[1]} samples, working storage holds {b}")
        depth = len(self.z)
        torch.baddbmm(self.b0, x, self.w0t, out=self.z[0])
        for layer in range(depth):
            torch.clamp_min(self.z[layer], 0.0, out=self.h[layer][..., :-1])
            top = self.upper[layer]
            target = self.out if layer == depth - 1 else self.z[layer + 1]
            torch.bmm(self.h[layer], top, out=target)
        diff = self.out.sub_(y)  # (S, B, c)
        loss = torch.linalg.vector_norm(diff.reshape(s, -1), dim=1).square_().div_(b * c)
        if not math.isfinite(float(loss.sum())):
            return None
        grad_scale = 2.0 * scale / (b * c)  # d(scale * MSE)/d out = grad_scale * diff
        if isinstance(lr, Tensor):
            delta, alpha = diff.mul_(grad_scale * lr.reshape(-1, 1, 1)), -1.0
        else:
            delta, alpha = diff, -lr * grad_scale
        for layer in range(depth - 1, -1, -1):
            top = self.upper[layer]
            below = torch.bmm(delta, top[:, :-1].transpose(1, 2), out=self.below[layer])
            top.baddbmm_(self.h[layer].transpose(1, 2), delta, alpha=alpha)  # W and b
            delta = torch.ops.aten.threshold_backward.grad_input(
                below, self.z[layer], 0.0, grad_input=below)
        self.w0t.baddbmm_(x.transpose(1, 2), delta, alpha=alpha)
        self.b0.baddbmm_(self.ones, delta, alpha=alpha)
        return loss


def fast_step(working: WorkingSGD | None, net: Net, x: Tensor, y: Tensor, lr: float | Tensor,
              scale: float, storage: bool = True
              ) -> tuple[WorkingSGD | None, Net, Tensor | None]:
    """One fused SGD step of ``net`` (a plain fc net, :mod:`relulab.training.path` says which):
    through :class:`WorkingSGD` (kept in ``working`` across steps) when ``storage``, else
    :func:`sgd_step` in place. Returns the working storage, the net to train from now on
    (``working.net``, or ``net``) and the per-seed MSE (None: a loss was not finite and nothing
    was updated)."""
    if storage:
        if net.leaky_slope != 0.0 or not net.plain_fc:
            raise ValueError("the working-storage step needs a plain-ReLU fc net without BN")
        working = WorkingSGD.holding(working, net, x.shape[1])
        return working, working.net, working.step(x, y, lr, scale)
    return working, net, sgd_step(net, x, y, lr, scale)
