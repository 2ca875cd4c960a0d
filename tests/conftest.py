"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from relulab.nets.networks import BN_EPS, BN_MOMENTUM, Net


@pytest.fixture
def generator() -> torch.Generator:
    """A fixed-seed CPU generator for test inputs (the library never uses the global RNG)."""
    g = torch.Generator()
    g.manual_seed(1234)
    return g


def per_seed_module(net: Net, i: int) -> nn.Sequential:
    """Seed ``i`` of a batched net as a plain ``torch.nn`` module: Linear / Conv2d (3x3, no
    padding), (Leaky) ReLU, BatchNorm (a copy of seed i's running statistics, and of its affine
    scale and shift when the net has them) after the ReLU or before it, when the net has it,
    then Flatten and the linear top layer. The module's parameters are copies, so its autograd
    gradients are the reference for seed i's."""
    layers: list[nn.Module] = []
    for layer in range(net.depth):
        w, b = net.weights[layer][i], net.biases[layer][i]
        if net.kind == "conv":
            lin: nn.Module = nn.Conv2d(w.shape[1], w.shape[0], 3, dtype=w.dtype)
        else:
            lin = nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        act = nn.LeakyReLU(net.leaky_slope) if net.leaky_slope else nn.ReLU()
        layers += [lin, act]
        if net.batchnorm:
            bn_cls = nn.BatchNorm2d if net.kind == "conv" else nn.BatchNorm1d
            bn = bn_cls(w.shape[0], eps=BN_EPS, momentum=BN_MOMENTUM,
                        affine=bool(net.bn_weight), dtype=w.dtype)
            bn.running_mean.copy_(net.bn_mean[layer][i])
            bn.running_var.copy_(net.bn_var[layer][i])
            if net.bn_weight:
                with torch.no_grad():
                    bn.weight.copy_(net.bn_weight[layer][i])
                    bn.bias.copy_(net.bn_bias[layer][i])
            layers.insert(len(layers) - 1 if net.bn_before_relu else len(layers), bn)
    if net.kind == "conv":
        layers.append(nn.Flatten())
    top = nn.Linear(net.weights[-1].shape[2], net.weights[-1].shape[1],
                    dtype=net.weights[-1].dtype)
    with torch.no_grad():
        top.weight.copy_(net.weights[-1][i])
        top.bias.copy_(net.biases[-1][i])
    return nn.Sequential(*layers, top)


@pytest.fixture
def as_module() -> Callable[[Net, int], nn.Sequential]:
    """:func:`per_seed_module`: seed i of a batched net as a plain ``torch.nn`` module."""
    return per_seed_module
