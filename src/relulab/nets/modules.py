"""Plain ``torch.nn`` modules in and out of a stacked :class:`~relulab.nets.networks.Net`.

:func:`from_modules` stacks S ``nn.Sequential`` modules of one structure into a Net (seed s =
module s); :func:`to_modules` gives a Net's S seeds back as ``nn.Sequential`` modules in eval
mode. The structures relulab's nets have, and so the only ones accepted:

- fc: ``[Linear, act, (BatchNorm1d)] x L, Linear`` or, BN before the activation,
  ``[Linear, BatchNorm1d, act] x L, Linear``;
- conv: ``[Conv2d, act, (BatchNorm2d)] x L, Flatten, Linear`` (or BN before the activation),
  3x3 kernels, stride 1, no padding;

with ``act`` one ``ReLU`` or ``LeakyReLU(slope)`` throughout, BatchNorm in every hidden layer or
in none (``eps=1e-5``, ``momentum=0.1``, running statistics kept; affine in all or none). Nested
``nn.Sequential`` blocks are read in order. Anything else is a ConfigError of one line naming the
module and the layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from relulab.config import ConfigError
from relulab.nets.networks import BN_EPS, BN_MOMENTUM, Net

_SUPPORTED = "one of Linear, Conv2d (3x3), ReLU, LeakyReLU, BatchNorm1d, BatchNorm2d or Flatten"


@dataclass
class _Parsed:
    """One module read layer by layer: weights ``(out, in)`` / ``(O, C, 3, 3)`` per layer."""

    kind: str = "fc"
    weights: list[Tensor] = field(default_factory=list)
    biases: list[Tensor] = field(default_factory=list)
    slopes: list[float] = field(default_factory=list)
    bns: list[nn.modules.batchnorm._BatchNorm] = field(default_factory=list)
    bn_before: list[bool] = field(default_factory=list)

    def signature(self) -> dict[str, object]:
        """What must be equal across the S modules."""
        bn = self.bns[0] if self.bns else None
        return {"kind": self.kind, "layer shapes": [tuple(w.shape) for w in self.weights],
                "activation slope": self.slopes[0] if self.slopes else 0.0,
                "BatchNorm": bool(self.bns), "BatchNorm before the activation":
                any(self.bn_before), "BatchNorm affine": bool(bn is not None and bn.affine),
                "dtype": self.weights[0].dtype, "device": self.weights[0].device}


def _leaves(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The layers of a (nested) ``nn.Sequential`` in order, with their dotted names."""
    if not isinstance(module, nn.Sequential):
        return [(prefix or type(module).__name__, module)]
    out: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        out += _leaves(child, f"{prefix}.{name}" if prefix else name)
    return out


def _fail(index: int, name: str, layer: nn.Module | None, expected: str) -> ConfigError:
    what = f"layer {name} ({type(layer).__name__})" if layer is not None else "the end"
    return ConfigError(f"module {index}: {what}: expected {expected}")


def _check_conv(index: int, name: str, conv: nn.Conv2d) -> None:
    wrong = [f"{attr} {getattr(conv, attr)}" for attr, want in (
        ("kernel_size", (3, 3)), ("stride", (1, 1)), ("padding", (0, 0)), ("dilation", (1, 1)),
        ("groups", 1)) if getattr(conv, attr) != want and not
        (attr == "padding" and getattr(conv, attr) == "valid")]
    if wrong:
        raise _fail(index, name, conv, f"kernel_size 3, stride 1, no padding, dilation 1, "
                                       f"groups 1 (got {', '.join(wrong)})")


def _check_bn(index: int, name: str, bn: nn.Module, kind: str, width: int) -> None:
    want = nn.BatchNorm2d if kind == "conv" else nn.BatchNorm1d
    if type(bn) is not want:
        raise _fail(index, name, bn, f"{want.__name__} in a {kind} net")
    if bn.num_features != width:
        raise _fail(index, name, bn, f"{width} features (the layer below has {width}), got "
                                     f"{bn.num_features}")
    if bn.eps != BN_EPS or bn.momentum != BN_MOMENTUM or not bn.track_running_stats:
        raise _fail(index, name, bn, f"eps {BN_EPS}, momentum {BN_MOMENTUM} and running "
                                     f"statistics (got eps {bn.eps}, momentum {bn.momentum}, "
                                     f"track_running_stats {bn.track_running_stats})")


def _slope(layer: nn.Module) -> float | None:
    if type(layer) is nn.ReLU:
        return 0.0
    if type(layer) is nn.LeakyReLU:
        return float(layer.negative_slope)
    return None


def _weight_layer(index: int, name: str, layer: nn.Module, kind: str, width: int | None,
                  flat: bool) -> None:
    """Check a Linear / Conv2d against what comes below it (``width``: its output size)."""
    if type(layer) is nn.Conv2d:
        if flat:
            raise _fail(index, name, layer, "Linear (Conv2d layers come first, then Flatten)")
        _check_conv(index, name, layer)
        size = layer.in_channels
    elif type(layer) is nn.Linear:
        if kind == "conv" and not flat:
            raise _fail(index, name, layer, "Conv2d or Flatten (a conv net flattens before its "
                                            "linear top layer)")
        size = layer.in_features
        if flat:  # (C * H * W) features of a C-channel map
            area = size // width if width and size % width == 0 else 0
            if math.isqrt(area) ** 2 != area or area == 0:
                raise _fail(index, name, layer, f"in_features C*side*side of the {width}-channel "
                                                f"map, got {size}")
            return
    else:
        raise _fail(index, name, layer, _SUPPORTED)
    if width is not None and size != width:
        raise _fail(index, name, layer, f"{width} inputs (the layer below has {width}), got "
                                        f"{size}")


def _parse(index: int, module: nn.Module) -> _Parsed:
    """Read one module's layers (ConfigError naming the layer that does not fit)."""
    layers = _leaves(module)
    out = _Parsed(kind="conv" if any(type(m) is nn.Conv2d for _, m in layers) else "fc")
    pos, width, flat = 0, None, False

    def at(p: int) -> tuple[str, nn.Module | None]:
        return layers[p] if p < len(layers) else ("", None)

    while True:
        name, layer = at(pos)
        if layer is None:
            raise _fail(index, name, None, "a linear top layer (Linear)")
        if type(layer) is nn.Flatten:
            if out.kind != "conv" or flat or not width:
                raise _fail(index, name, layer, "no Flatten but one between the Conv2d layers "
                                                "and the linear top layer of a conv net")
            if layer.start_dim != 1 or layer.end_dim != -1:
                raise _fail(index, name, layer, "Flatten() (start_dim 1, end_dim -1)")
            flat, pos = True, pos + 1
            continue
        _weight_layer(index, name, layer, out.kind, width, flat)
        out.weights.append(layer.weight.detach())
        bias = layer.bias
        out.biases.append(layer.weight.detach().new_zeros(layer.weight.shape[0]) if bias is None
                          else bias.detach())
        width, pos = layer.weight.shape[0], pos + 1
        if at(pos)[1] is None and type(layer) is nn.Linear:
            return out
        if flat:
            raise _fail(index, *at(pos), "the end (the linear top layer is the last)")
        pos = _activation_block(index, layers, pos, out, width)


def _activation_block(index: int, layers: list[tuple[str, nn.Module]], pos: int, out: _Parsed,
                      width: int) -> int:
    """Read ``act, (BN)`` or ``BN, act`` after a hidden layer; the position after it."""
    def bn_at(p: int) -> nn.Module | None:
        layer = layers[p][1] if p < len(layers) else None
        return layer if isinstance(layer, nn.modules.batchnorm._BatchNorm) else None

    bn, before = bn_at(pos), bn_at(pos) is not None
    pos += before
    name, act = layers[pos] if pos < len(layers) else ("", None)
    slope = None if act is None else _slope(act)
    if slope is None:
        raise _fail(index, name, act, "ReLU or LeakyReLU after the hidden layer")
    if out.slopes and slope != out.slopes[0]:
        raise _fail(index, name, act, f"one activation throughout (slope {out.slopes[0]})")
    pos += 1
    if not before and bn_at(pos) is not None:
        bn, pos = bn_at(pos), pos + 1
    if bn is not None:
        _check_bn(index, layers[pos - 1 if not before else pos - 2][0], bn, out.kind, width)
    if out.slopes and (bn is None) != (not out.bns):
        raise _fail(index, name, act, "BatchNorm in every hidden layer or in none")
    out.slopes.append(slope)
    out.bns += [bn] if bn is not None else []
    out.bn_before.append(before)
    return pos


def from_modules(modules: nn.Module | Sequence[nn.Module]) -> Net:
    """S plain modules of one structure (see the module docstring) as one Net with S seeds
    (weights ``(S, out, in)``, BN statistics ``(S, n_l)``); one module gives S=1. Tensors are
    copied, in the modules' dtype and on their device. ConfigError (one line, naming the module
    and the layer) for anything relulab's nets cannot express."""
    mods = [modules] if isinstance(modules, nn.Module) else list(modules)
    if not mods:
        raise ConfigError("from_modules: at least one module expected, got none")
    parsed = [_parse(i, m) for i, m in enumerate(mods)]
    for i, p in enumerate(parsed):
        _check_consistent(i, p)
    first = parsed[0].signature()
    for i, p in enumerate(parsed[1:], 1):
        for key, value in p.signature().items():
            if value != first[key]:
                raise ConfigError(f"module {i}: {key} {value}, expected {first[key]} as in "
                                  "module 0 (the S modules must have one structure)")
    bn, sig = bool(parsed[0].bns), first

    def stack(get: Callable[[_Parsed], list[Tensor]]) -> tuple[Tensor, ...]:
        return tuple(torch.stack([get(p)[k] for p in parsed])
                     for k in range(len(get(parsed[0]))))

    affine = sig["BatchNorm affine"]
    return Net(
        sig["kind"], stack(lambda p: p.weights), stack(lambda p: p.biases),
        leaky_slope=sig["activation slope"], batchnorm=bn,
        bn_mean=stack(lambda p: [b.running_mean for b in p.bns]) if bn else (),
        bn_var=stack(lambda p: [b.running_var for b in p.bns]) if bn else (),
        bn_before_relu=sig["BatchNorm before the activation"],
        bn_weight=stack(lambda p: [b.weight.detach() for b in p.bns]) if affine else (),
        bn_bias=stack(lambda p: [b.bias.detach() for b in p.bns]) if affine else ())


def _check_consistent(index: int, p: _Parsed) -> None:
    """One dtype and device, one BN order and one BN affine setting inside one module."""
    tensors = [*p.weights, *p.biases]
    for b in p.bns:
        tensors += [b.running_mean, b.running_var]
        tensors += [b.weight, b.bias] if b.affine else []
    kinds = {(t.dtype, t.device) for t in tensors}
    if len(kinds) > 1:
        raise ConfigError(f"module {index}: one dtype and device expected, got "
                          f"{sorted(map(str, kinds))}")
    if len(set(p.bn_before)) > 1 and p.bns:
        raise ConfigError(f"module {index}: BatchNorm on one side of the activation in every "
                          "hidden layer expected, got both")
    if len({b.affine for b in p.bns}) > 1:
        raise ConfigError(f"module {index}: BatchNorm affine in every hidden layer or in none "
                          "expected, got both")


def to_modules(net: Net) -> list[nn.Sequential]:
    """The S seeds of ``net`` as ``nn.Sequential`` modules in eval mode (same dtype and device;
    BN running statistics and affine scale and shift copied). Module s maps ``(N, d)`` (conv:
    ``(N, C, H, W)``) inputs to ``predict(net, x)[s]``."""
    return [_seed_module(net, s) for s in range(net.num_seeds)]


def _seed_module(net: Net, s: int) -> nn.Sequential:
    like = net.weights[0]
    kw = {"dtype": like.dtype, "device": like.device}
    layers: list[nn.Module] = []
    with torch.no_grad():
        for layer in range(net.depth):
            w, b = net.weights[layer][s], net.biases[layer][s]
            lin = (nn.Conv2d(w.shape[1], w.shape[0], 3, **kw) if net.kind == "conv"
                   else nn.Linear(w.shape[1], w.shape[0], **kw))
            lin.weight.copy_(w)
            lin.bias.copy_(b)
            act = nn.LeakyReLU(net.leaky_slope) if net.leaky_slope else nn.ReLU()
            block = [lin, act]
            if net.batchnorm:
                bn = _bn_module(net, layer, s, kw)
                block = [lin, bn, act] if net.bn_before_relu else [lin, act, bn]
            layers += block
        if net.kind == "conv":
            layers.append(nn.Flatten())
        top = nn.Linear(net.weights[-1].shape[2], net.weights[-1].shape[1], **kw)
        top.weight.copy_(net.weights[-1][s])
        top.bias.copy_(net.biases[-1][s])
    return nn.Sequential(*layers, top).eval()


def _bn_module(net: Net, layer: int, s: int, kw: dict) -> nn.Module:
    cls = nn.BatchNorm2d if net.kind == "conv" else nn.BatchNorm1d
    bn = cls(net.bn_mean[layer].shape[1], eps=BN_EPS, momentum=BN_MOMENTUM,
             affine=bool(net.bn_weight), **kw)
    bn.running_mean.copy_(net.bn_mean[layer][s])
    bn.running_var.copy_(net.bn_var[layer][s])
    if net.bn_weight:
        bn.weight.copy_(net.bn_weight[layer][s])
        bn.bias.copy_(net.bn_bias[layer][s])
    return bn
