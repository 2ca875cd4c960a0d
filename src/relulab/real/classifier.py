"""The real-data teacher before it becomes a :class:`relulab.nets.networks.Net`: a plain torch
classifier, trained on labels with cross-entropy.

Layout (torchvision VGG naming, so ``relulab bn-bias`` reads it like a VGG-BN state dict)::

    features.0  Conv2d(C, k_1, 3) | Linear(d, k_1)     hidden layer 1
    features.1  BatchNorm2d/1d(k_1)                    (with batchnorm: BN *before* the ReLU)
    features.2  ReLU
    ...
    classifier  Linear(k_L [* side * side], 10)        on the flattened last feature map

Conv layers are 3x3, stride 1, no padding (the Luck Matters conv teacher). Parameters are
drawn from an explicit generator (PyTorch's default rule: U(-1/sqrt(fan_in), 1/sqrt(fan_in)));
the module is built on the meta device first so the global RNG is never touched.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from relulab.nets.networks import BN_EPS, Net, stack_seeds


class Classifier(nn.Module):
    """``widths`` hidden layers (fc nodes or conv channels) on inputs ``input_shape``."""

    def __init__(self, kind: str, input_shape: tuple[int, ...], widths: tuple[int, ...],
                 num_classes: int, batchnorm: bool, *, device: str | torch.device = "meta"):
        super().__init__()
        self.kind, self.input_shape, self.widths = kind, tuple(input_shape), tuple(widths)
        self.num_classes, self.batchnorm = num_classes, batchnorm
        layers: list[nn.Module] = []
        channels = input_shape[0]
        side = input_shape[-1]
        for width in widths:
            if kind == "conv":
                layers.append(nn.Conv2d(channels, width, 3, device=device))
                side -= 2
            else:
                layers.append(nn.Linear(channels, width, device=device))
            if batchnorm:
                bn = nn.BatchNorm2d if kind == "conv" else nn.BatchNorm1d
                layers.append(bn(width, eps=BN_EPS, device=device))
            layers.append(nn.ReLU())
            channels = width
        self.features = nn.Sequential(*layers)
        top_in = channels * side * side if kind == "conv" else channels
        self.classifier = nn.Linear(top_in, num_classes, device=device)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))

    def hidden_layers(self) -> list[tuple[nn.Module, nn.Module | None]]:
        """Per hidden layer, its (Linear | Conv2d) and its BatchNorm (None without BN)."""
        out: list[tuple[nn.Module, nn.Module | None]] = []
        for module in self.features:
            if isinstance(module, nn.Linear | nn.Conv2d):
                out.append((module, None))
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                out[-1] = (out[-1][0], module)
        return out

    def activations(self, x: Tensor) -> list[Tensor]:
        """Post-ReLU activations of every hidden layer, ``(N, k_l)`` or ``(N, k_l, H, W)``."""
        out = []
        for module in self.features:
            x = module(x)
            if isinstance(module, nn.ReLU):
                out.append(x)
        return out


def build(kind: str, input_shape: tuple[int, ...], widths: tuple[int, ...], num_classes: int,
          batchnorm: bool, *, generator: torch.Generator) -> Classifier:
    """A freshly initialized classifier (on CPU, float32), drawn from ``generator``."""
    net = Classifier(kind, input_shape, widths, num_classes, batchnorm).to_empty(device="cpu")
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Linear | nn.Conv2d):
                bound = 1.0 / math.sqrt(math.prod(module.weight.shape[1:]))
                module.weight.uniform_(-bound, bound, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.reset_parameters()
    return net


def accuracy(net: Classifier, x: Tensor, y: Tensor, chunk: int = 4096) -> float:
    """Fraction of ``x (N, ...)`` classified as ``y (N,)`` (eval mode)."""
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + chunk]).argmax(dim=1) for i in range(0, len(x), chunk)])
    return float((pred == y).double().mean())


def fit(net: Classifier, x: Tensor, y: Tensor, *, epochs: int, lr: float, batch_size: int,
        generator: torch.Generator, momentum: float = 0.9, weight_decay: float = 5e-4) -> None:
    """Cross-entropy training of ``net`` in place: SGD with momentum, shuffled passes over
    ``x (N, ...)`` drawn from ``generator``."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            if len(idx) < 2 and net.batchnorm:  # BN needs two samples
                continue
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()


def folded(net: Classifier) -> tuple[list[Tensor], list[Tensor]]:
    """Weights and biases (float64) of the plain ReLU net computing ``net`` in eval mode.

    BN before the ReLU folds exactly into the layer below it:
    ``BN(Wx + b) = s (Wx + b - mu) + beta`` with ``s = gamma / sqrt(var + eps)``, so
    ``W' = s W``, ``b' = s (b - mu) + beta`` (per node / channel). Node activations are unchanged.
    """
    weights, biases = [], []
    for lin, bn in net.hidden_layers():
        w, b = lin.weight.detach().double(), lin.bias.detach().double()
        if bn is not None:
            s = bn.weight.detach().double() / (bn.running_var.double() + bn.eps).sqrt()
            w = w * s.reshape(-1, *[1] * (w.dim() - 1))
            b = s * (b - bn.running_mean.double()) + bn.bias.detach().double()
        weights.append(w)
        biases.append(b)
    weights.append(net.classifier.weight.detach().double())
    biases.append(net.classifier.bias.detach().double())
    return weights, biases


def to_net(nets: list[Classifier], dtype: torch.dtype = torch.float32,
           device: torch.device | str = "cpu") -> Net:
    """S classifiers of equal shapes as one batched teacher :class:`Net` (BN folded)."""
    weights, biases = zip(*(folded(n) for n in nets), strict=True)
    return Net(nets[0].kind, stack_seeds(weights), stack_seeds(biases)).to(device, dtype)
