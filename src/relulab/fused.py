"""Fused SGD step for batched fully connected students (no BatchNorm, plain SGD).

Hand-written backward of the per-seed MSE with the update folded into the weight-gradient
matmul (``W <- W - lr * dZ^T H`` as one ``baddbmm_``), so a step is a handful of batched
matmuls and no autograd graph. Mathematically identical to
:func:`relulab.engine.loss_and_grads` followed by ``W -= lr * grad`` (tested).
"""

from __future__ import annotations

import torch
from torch import Tensor

from relulab.networks import Net, activation, gate


def supports(net: Net, optim_name: str, momentum: float, weight_decay: float) -> bool:
    """Whether :func:`sgd_step` applies (fc, no BN, plain SGD)."""
    return (net.kind == "fc" and not net.batchnorm and optim_name in ("sgd", "gd")
            and momentum == 0.0 and weight_decay == 0.0)


@torch.no_grad()
def forward_loss(net: Net, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor],
                                                           Tensor]:
    """Forward ``x (S, B, d)``; returns per-seed loss ``(S,)``, pre-activations, activations
    (input first) and the residual ``out - y (S, B, c)``."""
    pres: list[Tensor] = []
    hs: list[Tensor] = [x]
    h = x
    for layer in range(net.depth):
        z = torch.baddbmm(net.biases[layer].unsqueeze(1), h, net.weights[layer].transpose(1, 2))
        h = activation(z, net.leaky_slope)
        pres.append(z)
        hs.append(h)
    out = torch.baddbmm(net.biases[-1].unsqueeze(1), h, net.weights[-1].transpose(1, 2))
    diff = out.sub_(y)  # (S, B, c)
    loss = diff.square().mean(dim=(1, 2))
    return loss, pres, hs, diff


@torch.no_grad()
def sgd_step(net: Net, x: Tensor, y: Tensor, lr: float | Tensor, scale: float = 1.0
             ) -> Tensor | None:
    """One SGD step on all seeds in place on ``scale`` x MSE (``scale`` = c/2 is the two-layer
    original's ½·Σ_outputs loss, see :func:`relulab.engine.loss_scale`); returns the per-seed
    MSE ``(S,)``.

    If any seed's loss is not finite nothing is updated and None is returned (the caller then
    takes the masked general path for this step).
    """
    loss, pres, hs, diff = forward_loss(net, x, y)
    if not bool(torch.isfinite(loss).all()):
        return None
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
        if below is not None:
            z = pres[layer - 1]
            delta = below.mul_(gate(z, net.leaky_slope))
    return loss
