"""Students: same depth as the teacher, each hidden layer ``multi`` x wider (or explicit widths).

Init "default" is PyTorch's ``nn.Linear``/``nn.Conv2d`` default (weights and biases
U(-1/sqrt(fan_in), 1/sqrt(fan_in))); init "normal" draws N(0, init_std^2) weights and zero biases
(Student Specialization). ``scale_down`` multiplies the initial weights and biases. Affine BN
starts at scale 1, shift 0 (``torch.nn.BatchNorm``); ``bias=False`` starts (and keeps) biases 0.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from relulab.config import RunConfig, StudentConfig
from relulab.nets.networks import Net, layer_shapes, stack_seeds


def draw_student_weights(cfg: StudentConfig, shapes: list[tuple[int, ...]], *,
                         generator: torch.Generator) -> tuple[list[Tensor], list[Tensor]]:
    """Weights and biases of one student with weight shapes ``shapes`` (float32)."""
    weights, biases = [], []
    for shape in shapes:
        if cfg.init == "normal":
            w = torch.randn(shape, generator=generator) * cfg.init_std
            b = torch.zeros(shape[0])
        else:
            bound = 1.0 / math.sqrt(math.prod(shape[1:]))  # 1/sqrt(fan_in)
            w = (torch.rand(shape, generator=generator) * 2 - 1) * bound
            b = (torch.rand(shape[0], generator=generator) * 2 - 1) * bound
        weights.append(w * cfg.scale_down)
        biases.append(b * cfg.scale_down)
    return weights, biases


def make_students(cfg: RunConfig, generators: list[torch.Generator], *,
                  dtype: torch.dtype = torch.float32,
                  device: torch.device | str = "cpu") -> Net:
    """S students, one per generator (drawn on CPU in float32, so a seed starts from the same
    weights at every precision; stacked, moved to ``device`` as ``dtype``)."""
    s_cfg = cfg.student
    shapes = layer_shapes(cfg.teacher, cfg.student_widths)
    weights, biases = zip(*(draw_student_weights(s_cfg, shapes, generator=g)
                            for g in generators), strict=True)
    s = len(generators)

    def per_node(fill: float, wanted: bool) -> tuple[torch.Tensor, ...]:  # (S, n_l) per layer
        return tuple(torch.full((s, shape[0]), fill) for shape in shapes[:-1]) if wanted else ()

    bn, affine = s_cfg.batchnorm, s_cfg.bn_affine  # running statistics are updated in place:
    net = Net(cfg.teacher.kind, stack_seeds(weights), stack_seeds(biases), s_cfg.leaky_slope,
              bn, per_node(0.0, bn), per_node(1.0, bn), s_cfg.bn_before_relu,
              per_node(1.0, affine), per_node(0.0, affine))  # every tensor its own
    if not s_cfg.bias:  # the original's no_bias: biases 0 (kept 0 by relulab.nets.rules)
        net = replace(net, biases=tuple(torch.zeros_like(b) for b in net.biases))
    return net.to(device, dtype)
