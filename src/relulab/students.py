"""Students: same depth as the teacher, each hidden layer ``multi`` x wider (or explicit widths).

Init "default" is PyTorch's ``nn.Linear``/``nn.Conv2d`` default (weights and biases
U(-1/sqrt(fan_in), 1/sqrt(fan_in))); init "normal" draws N(0, init_std^2) weights and zero biases
(Student Specialization). ``scale_down`` multiplies the initial weights and biases.
"""

from __future__ import annotations

import math

import torch

from relulab.config import RunConfig
from relulab.networks import Net


def student_shapes(cfg: RunConfig) -> list[tuple[int, ...]]:
    """Weight shapes (one net) of every student layer, output layer last."""
    t = cfg.teacher
    widths = cfg.student_widths
    shapes: list[tuple[int, ...]] = []
    if t.kind == "conv":
        prev, side = 1, t.image_size
        for w in widths:
            shapes.append((w, prev, 3, 3))
            prev, side = w, side - 2
        shapes.append((t.output_dim, prev * side * side))
    else:
        prev = t.input_dim
        for w in widths:
            shapes.append((w, prev))
            prev = w
        shapes.append((t.output_dim, prev))
    return shapes


def make_students(cfg: RunConfig, generators: list[torch.Generator], *,
                  dtype: torch.dtype = torch.float32,
                  device: torch.device | str = "cpu") -> Net:
    """S students, one per generator (drawn on CPU in float32, so a seed starts from the same
    weights at every precision; stacked, moved to ``device`` as ``dtype``)."""
    s_cfg = cfg.student
    shapes = student_shapes(cfg)
    per_layer_w: list[list[torch.Tensor]] = [[] for _ in shapes]
    per_layer_b: list[list[torch.Tensor]] = [[] for _ in shapes]
    for g in generators:
        for layer, shape in enumerate(shapes):
            fan_in = math.prod(shape[1:])
            if s_cfg.init == "normal":
                w = torch.randn(shape, generator=g) * s_cfg.init_std
                b = torch.zeros(shape[0])
            else:
                bound = 1.0 / math.sqrt(fan_in)
                w = (torch.rand(shape, generator=g) * 2 - 1) * bound
                b = (torch.rand(shape[0], generator=g) * 2 - 1) * bound
            per_layer_w[layer].append(w * s_cfg.scale_down)
            per_layer_b[layer].append(b * s_cfg.scale_down)
    weights = tuple(torch.stack(ws) for ws in per_layer_w)
    biases = tuple(torch.stack(bs) for bs in per_layer_b)
    s = len(generators)
    bn_mean: tuple[torch.Tensor, ...] = ()
    bn_var: tuple[torch.Tensor, ...] = ()
    if s_cfg.batchnorm:
        bn_mean = tuple(torch.zeros(s, shape[0]) for shape in shapes[:-1])
        bn_var = tuple(torch.ones(s, shape[0]) for shape in shapes[:-1])
    net = Net(cfg.teacher.kind, weights, biases, s_cfg.leaky_slope, s_cfg.batchnorm,
              bn_mean, bn_var)
    return net.to(device, dtype)
