"""Teachers: deep FC and conv ReLU nets with the papers' discrete, distinct-row initialization.

Luck Matters (docs/conventions.md): entries i.i.d. from ``weight_choices``, all-zero and repeated
rows rejected, bias U(-0.5, 0.5), each row and its bias divided by |row| + 1e-5 (all layers).
Student Specialization: bias constant -0.1, hidden rows to unit norm (bias untouched), output
weights unnormalized; fan-out of hidden node i divided by (i+1)^p.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from relulab.config import ConfigError, TeacherConfig
from relulab.nets.networks import Net, activation, forward, layer_shapes, stack_seeds

NORM_EPS = 1e-5


def distinct_rows(n_rows: int, n_cols: int, choices: Tensor, *,
                  generator: torch.Generator) -> Tensor:
    """``(n_rows, n_cols)`` rows, entries drawn uniformly from ``choices``, pairwise distinct
    and none all-zero (rejection sampling, redrawing only offending rows)."""
    k = choices.numel()
    if k ** min(n_cols, 60) - 1 < n_rows:
        raise ConfigError(f"cannot draw {n_rows} distinct rows of {n_cols} entries from {k} values")
    idx = torch.randint(k, (n_rows, n_cols), generator=generator)
    zero_code = (choices == 0).nonzero()
    for _ in range(10_000):
        bad = torch.zeros(n_rows, dtype=torch.bool)
        if zero_code.numel():
            bad |= (idx == zero_code[0, 0]).all(dim=1)
        _, inverse, counts = torch.unique(idx, dim=0, return_inverse=True, return_counts=True)
        dup = counts[inverse] > 1
        # keep the first occurrence of each repeated row
        first = torch.zeros(n_rows, dtype=torch.bool)
        seen: set[int] = set()
        for r in dup.nonzero().flatten().tolist():
            if int(inverse[r]) not in seen:
                seen.add(int(inverse[r]))
                first[r] = True
        bad |= dup & ~first
        if not bad.any():
            return choices[idx]
        nb = int(bad.sum())
        idx[bad] = torch.randint(k, (nb, n_cols), generator=generator)
    raise ConfigError("could not draw distinct teacher rows")  # pragma: no cover


def _fan_out_decay(w: Tensor, p: float, n_in: int) -> Tensor:
    """Divide the fan-out of input node (channel) i of ``w (out, in)`` by (i+1)^p: its
    ``in / n_in`` columns (fc 1, conv filters 9 taps, the conv top layer every position)."""
    scale = (torch.arange(n_in, dtype=w.dtype) + 1).pow(-p).repeat_interleave(w.shape[1] // n_in)
    return w * scale


def draw_teacher_weights(cfg: TeacherConfig, *, generator: torch.Generator
                         ) -> tuple[list[Tensor], list[Tensor]]:
    """Weights and biases of one teacher (float64, before bias tuning / standardization)."""
    choices = torch.tensor(cfg.weight_choices, dtype=torch.float64)
    shapes = layer_shapes(cfg, cfg.widths)
    weights, biases = [], []
    for layer, shape in enumerate(shapes):
        out, fan_in = shape[0], math.prod(shape[1:])
        w = distinct_rows(out, fan_in, choices, generator=generator)
        if cfg.bias == "uniform":
            b = (torch.rand(out, generator=generator, dtype=torch.float64) * 2 - 1) * cfg.bias_range
        else:
            b = torch.full((out,), cfg.bias_value if cfg.bias == "constant" else 0.0,
                           dtype=torch.float64)
        is_output = layer == len(shapes) - 1
        if layer > 0 and cfg.fan_out_decay > 0:
            w = _fan_out_decay(w, cfg.fan_out_decay, n_in=shapes[layer - 1][0])
        if cfg.normalize == "row_and_bias":
            norm = w.norm(dim=1) + NORM_EPS
            w, b = w / norm[:, None], b / norm
        elif cfg.normalize == "fan_in" and not is_output:
            w = w / w.norm(dim=1, keepdim=True)
        weights.append(w.reshape(shape))
        biases.append(b)
    return weights, biases


def _per_node(act: Tensor) -> Tensor:
    """``(S, N, n)`` or conv ``(S, N, C, H, W)`` -> ``(S, n, samples)``."""
    return act.transpose(1, 2).flatten(2) if act.dim() == 5 else act.transpose(1, 2)


def _set_layer(net: Net, name: str, layer: int, value: Tensor) -> Net:
    values = list(getattr(net, name))
    values[layer] = value
    return replace(net, **{name: tuple(values)})


def tune_biases(net: Net, x: Tensor, *, tune: bool = True) -> Net:
    """Bottom up, per hidden layer: subtract each node's median linear output on ``x`` from its
    bias (``tune``), so every teacher node is active on ~50 % of ``x (S, N, ...)``; then, for a
    net with BatchNorm, set the layer's BN statistics to the mean and unbiased variance of the BN
    input on ``x`` (the original's teacher runs in eval mode with running statistics estimated
    on the eval set during its tuning passes). Returns a new net."""
    for layer in range(net.depth):
        if tune:
            median = _per_node(forward(net, x).linear[layer]).median(dim=2).values  # (S, n_l)
            net = _set_layer(net, "biases", layer, net.biases[layer] - median)
        if net.batchnorm:
            lin = forward(net, x).linear[layer]
            bn_in = _per_node(lin if net.bn_before_relu else activation(lin, net.leaky_slope))
            net = _set_layer(net, "bn_mean", layer, bn_in.mean(dim=2))
            net = _set_layer(net, "bn_var", layer, bn_in.var(dim=2))
    return net


def standardize_output(net: Net, x: Tensor) -> Net:
    """Rescale the linear top layer so each output has mean 0 and std 1 on ``x``."""
    out = forward(net, x).output  # (S, N, c)
    mean, std = out.mean(dim=1), out.std(dim=1).clamp_min(1e-12)
    w = net.weights[-1] / std.unsqueeze(-1)
    b = (net.biases[-1] - mean) / std
    return replace(net, weights=(*net.weights[:-1], w), biases=(*net.biases[:-1], b))


def make_teachers(cfg: TeacherConfig, generators: list[torch.Generator], *,
                  tuning_inputs: Tensor | None = None,
                  dtype: torch.dtype = torch.float32,
                  device: torch.device | str = "cpu") -> Net:
    """S teachers, one per generator (each drawn on CPU in float64, then stacked).

    ``tuning_inputs (S, N, ...)`` (the eval set) is required for bias tuning, output
    standardization and BatchNorm statistics.
    """
    weights, biases = zip(*(draw_teacher_weights(cfg, generator=g) for g in generators),
                          strict=True)
    net = Net(cfg.kind, stack_seeds(weights), stack_seeds(biases), cfg.leaky_slope)
    if cfg.batchnorm:
        zeros = tuple(torch.zeros(len(generators), w.shape[1], dtype=torch.float64)
                      for w in net.weights[:-1])  # (S, n_l), set by tune_biases
        net = replace(net, batchnorm=True, bn_before_relu=cfg.bn_before_relu, bn_mean=zeros,
                      bn_var=tuple(torch.ones_like(t) for t in zeros))
    if cfg.needs_eval_set:
        if tuning_inputs is None:
            raise ConfigError("bias tuning / output standardization / BN need tuning inputs")
        x = tuning_inputs.to(device="cpu", dtype=torch.float64)
        if cfg.bias_tuning or cfg.batchnorm:
            net = tune_biases(net, x, tune=cfg.bias_tuning)
        if cfg.standardize_output:
            net = standardize_output(net, x)
    return net.to(device, dtype)
