"""Fused SGD step for batched fully connected students (no BatchNorm, plain SGD).

The forward is :func:`relulab.networks.forward`; the backward of the per-seed MSE is written by
hand with the update folded into the weight-gradient matmul (``W <- W - lr * dZ^T H`` as one
``baddbmm_``), so a step is a handful of batched matmuls and no autograd graph. The same
update as :func:`relulab.optim.loss_and_grads` then ``W -= lr * grad`` (tested in float64).
"""

from __future__ import annotations

import torch
from torch import Tensor

from relulab.networks import Net, forward, gate


def supports(net: Net, optim_name: str, momentum: float, weight_decay: float) -> bool:
    """Whether :func:`sgd_step` applies (fc, no BN, plain SGD)."""
    return (net.kind == "fc" and not net.batchnorm and optim_name in ("sgd", "gd")
            and momentum == 0.0 and weight_decay == 0.0)


@torch.no_grad()
def sgd_step(net: Net, x: Tensor, y: Tensor, lr: float | Tensor, scale: float = 1.0
             ) -> Tensor | None:
    """One SGD step on all seeds in place on ``scale`` x MSE (``scale`` = c/2 is the two-layer
    original's ½·Σ_outputs loss, see :func:`relulab.optim.loss_scale`); returns the per-seed
    MSE ``(S,)``.

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
