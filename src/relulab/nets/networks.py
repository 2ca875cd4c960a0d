"""Batched networks: S independent nets of equal shapes held as stacked tensors.

A fully connected net with hidden widths ``(n_1, ..., n_L)`` keeps ``weights[l]`` of shape
``(S, n_{l+1}, n_l)`` and ``biases[l]`` of shape ``(S, n_{l+1})``; the last layer is linear.
A conv net keeps ``(S, C_out, C_in, 3, 3)`` filters for its hidden layers (stride 1, no
padding) and a linear top layer on the flattened feature map. One forward is one tensor
program for all S nets (batched matmul / grouped convolution).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from relulab.config import TeacherConfig

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def input_shape(task: TeacherConfig) -> tuple[int, ...]:
    """Shape of one input: ``(d,)`` (fc) or ``(input_channels, image_size, image_size)``
    (conv)."""
    if task.kind == "conv":
        return (task.input_channels, task.image_size, task.image_size)
    return (task.input_dim,)


def layer_shapes(task: TeacherConfig, widths: Sequence[int]) -> list[tuple[int, ...]]:
    """Weight shapes (one net) of a net on ``task``'s inputs and outputs with hidden widths
    (fc) or channels (conv) ``widths``, output layer last: fc ``(n_l, n_{l-1})``; conv 3x3
    filters ``(C_l, C_{l-1}, 3, 3)`` (stride 1, no padding) and a top layer
    ``(c, C_L * side * side)`` on the flattened map."""
    shape = input_shape(task)
    shapes: list[tuple[int, ...]] = []
    for width in widths:
        if task.kind == "conv":
            shapes.append((width, shape[0], 3, 3))
            shape = (width, shape[1] - 2, shape[2] - 2)
        else:
            shapes.append((width, shape[0]))
            shape = (width,)
    shapes.append((task.output_dim, math.prod(shape)))
    return shapes


@dataclass(frozen=True)
class Net:
    """S stacked networks (teachers or students). ``Net.from_modules(modules)`` and
    ``net.to_modules()`` (plain ``torch.nn`` modules in and out) are attached by
    :mod:`relulab.nets` from :mod:`relulab.nets.modules`."""

    kind: str  # "fc" or "conv"
    weights: tuple[Tensor, ...]  # hidden layers then the linear output layer
    biases: tuple[Tensor, ...]  # (S, out) per layer
    leaky_slope: float = 0.0  # ReLU is Leaky ReLU with slope 0
    batchnorm: bool = False  # Linear -> ReLU -> BN (affine off), hidden layers only
    bn_mean: tuple[Tensor, ...] = ()  # running statistics (S, n_l) per hidden layer
    bn_var: tuple[Tensor, ...] = ()
    bn_before_relu: bool = False  # Linear -> BN -> ReLU instead
    bn_weight: tuple[Tensor, ...] = ()  # affine BN: scale and shift (S, n_l) per hidden layer;
    bn_bias: tuple[Tensor, ...] = ()  # () = affine off

    @property
    def num_seeds(self) -> int:
        return self.weights[0].shape[0]

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.weights) - 1

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(w.shape[1] for w in self.weights[:-1])

    @property
    def plain_fc(self) -> bool:
        """Fully connected without BatchNorm: the nets the fused step, the streamed passes and
        the recursive gradient rule are written for."""
        return self.kind == "fc" and not self.batchnorm

    def parameters(self) -> list[Tensor]:
        """Weights then biases (then the affine BN scales and shifts, when the net has them)."""
        return [*self.weights, *self.biases, *self.bn_weight, *self.bn_bias]

    def with_parameters(self, params: Sequence[Tensor]) -> Net:
        """The same net with new parameters (in the order of :meth:`parameters`); BatchNorm
        statistics are shared."""
        n_layers, n_bn = len(self.weights), len(self.bn_weight)
        a, b, c = n_layers, 2 * n_layers, 2 * n_layers + n_bn
        return replace(self, weights=tuple(params[:a]), biases=tuple(params[a:b]),
                       bn_weight=tuple(params[b:c]), bn_bias=tuple(params[c:]))

    def _map(self, fn: Callable[[Tensor], Tensor]) -> Net:
        """The same net with ``fn`` applied to every tensor (parameters and BN statistics)."""
        return replace(self, **{name: tuple(fn(t) for t in getattr(self, name))
                                for name in _TENSOR_FIELDS})

    def select(self, idx: Tensor | slice | list[int]) -> Net:
        """The sub-batch of seeds ``idx``."""
        return self._map(lambda t: t[idx])

    def detached(self) -> Net:
        return self._map(lambda t: t.detach().clone())

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Net:
        return self._map(lambda t: t.to(device=device, dtype=dtype))


_TENSOR_FIELDS = ("weights", "biases", "bn_mean", "bn_var", "bn_weight", "bn_bias")


def stack_seeds(per_seed: Sequence[Sequence[Tensor]]) -> tuple[Tensor, ...]:
    """Per-seed layer lists ``[[W_1, ..., W_L+1], ...]`` as per-layer stacks ``(S, ...)``."""
    return tuple(torch.stack(layer) for layer in zip(*per_seed, strict=True))


def concat(nets: list[Net]) -> Net:
    """Stack the seed axes of nets with equal shapes into one batched net."""
    first = nets[0]
    if len(nets) == 1:
        return first

    def cat(attr: str) -> tuple[Tensor, ...]:
        groups = [getattr(n, attr) for n in nets]
        return tuple(torch.cat(ts, dim=0) for ts in zip(*groups, strict=True))

    return replace(first, **{name: cat(name) for name in _TENSOR_FIELDS})


@dataclass(frozen=True)
class Forward:
    """Everything one forward pass produces.

    ``pre[l]``/``post[l]``: pre-activations (the activation function's input, so the gates
    are ``gate(pre)``) and activations of hidden layer l, ``(S, N, n_l)`` for fc,
    ``(S, N, C_l, H_l, W_l)`` for conv (post is after BN when the net has BN after the ReLU).
    ``output``: ``(S, N, c)``. ``linear[l]``: the layer's linear (conv) output, before BN; the
    same tensors as ``pre`` unless BN comes before the ReLU.
    """

    pre: tuple[Tensor, ...]
    post: tuple[Tensor, ...]
    output: Tensor
    linear: tuple[Tensor, ...] = ()


def activation(z: Tensor, slope: float) -> Tensor:
    """Leaky ReLU with slope ``slope`` below 0 (ReLU for 0)."""
    return torch.relu(z) if slope == 0.0 else torch.nn.functional.leaky_relu(z, slope)


def gate(z: Tensor, slope: float) -> Tensor:
    """Derivative f'(z) of the activation: 1 above 0, ``slope`` below."""
    one = (z > 0).to(z.dtype)
    return one if slope == 0.0 else one + slope * (1 - one)


def _linear(h: Tensor, w: Tensor, b: Tensor) -> Tensor:
    # h (S, N, in), w (S, out, in), b (S, out) -> (S, N, out)
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))


def _conv(h: Tensor, w: Tensor, b: Tensor) -> Tensor:
    # h (S, N, C, H, W), w (S, O, C, 3, 3) -> (S, N, O, H-2, W-2) via one grouped conv
    s, n, c, hh, ww = h.shape
    o = w.shape[1]
    x = h.permute(1, 0, 2, 3, 4).reshape(n, s * c, hh, ww)
    y = torch.nn.functional.conv2d(x, w.reshape(s * o, c, *w.shape[3:]), b.reshape(s * o),
                                   groups=s)
    return y.reshape(n, s, o, *y.shape[2:]).permute(1, 0, 2, 3, 4)


def _batchnorm(h: Tensor, layer: int, net: Net, train: bool) -> Tensor:
    """BatchNorm (affine when the net has ``bn_weight``) of every seed's nodes (channels) at
    once: ``F.batch_norm`` on an ``(N, S*n)`` (conv: ``(N, S*C, H, W)``) view, so the running
    statistics ``(S, n)`` are updated in place as ``torch.nn.BatchNorm`` does (unbiased
    variance, momentum 0.1)."""
    num_seeds, num_samples = h.shape[:2]
    flat = h.transpose(0, 1).reshape(num_samples, -1, *h.shape[3:])  # (N, S*n) | (N, S*C, H, W)
    affine = ([t[layer].reshape(-1) for t in (net.bn_weight, net.bn_bias)] if net.bn_weight
              else [None, None])
    out = torch.nn.functional.batch_norm(
        flat, net.bn_mean[layer].view(-1), net.bn_var[layer].view(-1), *affine, training=train,
        momentum=BN_MOMENTUM, eps=BN_EPS)
    return out.reshape(num_samples, num_seeds, *h.shape[2:]).transpose(0, 1)


def forward(net: Net, x: Tensor, *, train: bool = False) -> Forward:
    """Run all S nets on their inputs ``x``: ``(S, N, d)`` (fc) or ``(S, N, 1, H, W)`` (conv).

    With ``train=True`` BatchNorm uses batch statistics and updates its running statistics.
    """
    pre: list[Tensor] = []
    post: list[Tensor] = []
    linear: list[Tensor] = []
    h = x
    for layer in range(net.depth):
        w, b = net.weights[layer], net.biases[layer]
        z = _conv(h, w, b) if net.kind == "conv" else _linear(h, w, b)
        linear.append(z)
        if net.batchnorm and net.bn_before_relu:
            z = _batchnorm(z, layer, net, train)
        h = activation(z, net.leaky_slope)
        if net.batchnorm and not net.bn_before_relu:
            h = _batchnorm(h, layer, net, train)
        pre.append(z)
        post.append(h)
    if net.kind == "conv":
        h = h.flatten(2)
    out = _linear(h, net.weights[-1], net.biases[-1])
    return Forward(tuple(pre), tuple(post), out, tuple(linear))


def hidden_only(net: Net) -> Net:
    """``net`` with its output layer replaced by a 1-output zero layer: the hidden activations
    are unchanged and the (possibly wide) output layer costs nothing."""
    top = net.weights[-1]
    return replace(
        net, weights=(*net.weights[:-1], top.new_zeros(top.shape[0], 1, top.shape[-1])),
        biases=(*net.biases[:-1], top.new_zeros(top.shape[0], 1)))


def predict(net: Net, x: Tensor) -> Tensor:
    """Outputs ``(S, N, c)`` in eval mode of inputs ``(S, N, d)`` (conv: ``(S, N, C, H, W)``),
    or of inputs ``(N, d)`` (``(N, C, H, W)``) shared by every seed. Inputs of another shape,
    dtype or device are a ValueError (one line: what was expected, what came)."""
    return forward(net, stacked_inputs(net, x)).output


def stacked_inputs(net: Net, x: Tensor, where: str = "predict") -> Tensor:
    """``x`` as ``(S, N, ...)`` inputs of ``net``: stacked inputs are checked and returned as
    they are; ``(N, ...)`` inputs are broadcast to every seed (a view, no copy)."""
    s, item = net.num_seeds, _item_shape(net)
    like = net.weights[0]
    if x.dtype != like.dtype or x.device != like.device:
        raise ValueError(f"{where}: inputs of dtype {like.dtype} on {like.device} expected, got "
                         f"{x.dtype} on {x.device}")
    got = tuple(x.shape)
    if len(got) == len(item) + 2 and got[0] == s and _fits(net, got[2:], item):
        return x
    if len(got) == len(item) + 1 and _fits(net, got[1:], item):
        return x.unsqueeze(0).expand(s, *got)
    inner = ", ".join(map(str, item))
    raise ValueError(f"{where}: inputs of shape (S={s}, N, {inner}) or (N, {inner}) expected, "
                     f"got {got}")


def _item_shape(net: Net) -> tuple[int | str, ...]:
    """One input's shape: ``(d,)``; conv ``(C, H, W)`` with the side read off the top layer
    (``("C", "H", "W")`` names when the feature map is not square)."""
    w = net.weights[0]
    if net.kind != "conv":
        return (w.shape[-1],)
    area = net.weights[-1].shape[-1] // net.weights[-2].shape[1]
    side = math.isqrt(area)
    if side * side != area:
        return (w.shape[2], "H", "W")
    return (w.shape[2], side + 2 * net.depth, side + 2 * net.depth)


def _fits(net: Net, got: tuple[int, ...], item: tuple[int | str, ...]) -> bool:
    if net.kind != "conv":
        return got == item
    c, h, w = got
    maps = (h - 2 * net.depth) * (w - 2 * net.depth) * net.weights[-2].shape[1]
    return c == item[0] and min(h, w) > 2 * net.depth and maps == net.weights[-1].shape[-1]


def as_samples(act: Tensor) -> Tensor:
    """Node activations as ``(S, N', n)``: conv maps count every spatial position as a sample."""
    if act.dim() == 5:
        s, n, c, h, w = act.shape
        return act.permute(0, 1, 3, 4, 2).reshape(s, n * h * w, c)
    return act
