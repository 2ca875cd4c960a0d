"""Fan-out norms ("L-shape", Theorem 5 of Luck Matters) and per-layer gradient norms.

The fan-out of node i of hidden layer l is column i of the next layer's weight matrix (bias
excluded): for fc nets ``weights[l+1][:, :, i]``; for a conv layer below another conv layer the
filters' input channel i (``weights[l+1][:, :, i, :, :]``); for the top conv layer the output
layer's columns of channel i at every spatial position (the feature map is flattened channel
major, as :func:`relulab.nets.networks.forward` does).

Student Specialization's "L-shape": x = a student node's best correlation over teacher nodes,
y = its fan-out norm; Theorem 5: fan-outs of students matched to a teacher node stay O(1), the
others go to 0.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from relulab.nets.networks import Net


def fan_out_norms(net: Net) -> tuple[Tensor, ...]:
    """Per hidden layer l, the ``(S, n_l)`` L2 norms of each node's outgoing weights."""
    out = []
    for layer in range(net.depth):
        above = net.weights[layer + 1]
        width = net.weights[layer].shape[1]
        if above.dim() == 5:  # (S, O, C, 3, 3): channel C's filters taps
            norms = above.square().sum(dim=(1, 3, 4)).sqrt()
        elif net.kind == "conv":  # (S, c, C*H*W) linear top over a flattened feature map
            grouped = above.reshape(above.shape[0], above.shape[1], width, -1)  # (S, c, C, HW)
            norms = grouped.square().sum(dim=(1, 3)).sqrt()
        else:  # (S, out, n_l)
            norms = above.norm(dim=1)
        out.append(norms)
    return tuple(out)


class FanOutSplit(NamedTuple):
    """Fan-out norms split by whether the student node is some teacher node's match; each
    ``(..., n)`` with NaN at the nodes of the other group."""

    relevant: Tensor
    irrelevant: Tensor


def matched_mask(best_student: Tensor, num_students: int) -> Tensor:
    """``(..., m)`` matched student indices -> ``(..., n)`` bool: node is some teacher's match
    (indices -1 are ignored)."""
    valid = best_student >= 0
    onehot = torch.nn.functional.one_hot(best_student.clamp_min(0), num_students)  # (..., m, n)
    return (onehot.bool() & valid.unsqueeze(-1)).any(dim=-2)


def split_fan_out(norms: Tensor, best_student: Tensor) -> FanOutSplit:
    """Theorem 5 data: fan-out norms ``(..., n)`` of matched ("relevant") vs unmatched nodes."""
    mask = matched_mask(best_student, norms.shape[-1])
    return FanOutSplit(torch.where(mask, norms, torch.nan), torch.where(mask, torch.nan, norms))


def grad_norms(grads: tuple[Tensor, ...] | None, num_layers: int, num_seeds: int
               ) -> tuple[Tensor, ...]:
    """L2 norms of each layer's weight gradient, ``(S,)`` per layer (hidden layers then the
    output layer, ``num_layers`` of them). ``grads`` lists the weights' gradients first (as
    :class:`relulab.training.engine.StatsContext.grads`); ``None`` (at init) gives NaN."""
    if grads is None:
        return tuple(torch.full((num_seeds,), torch.nan) for _ in range(num_layers))
    return tuple(g.flatten(1).norm(dim=1) for g in grads[:num_layers])
