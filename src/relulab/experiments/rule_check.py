"""Luck Matters Theorem 1 and its matrix form, checked (docs/theory.md):

1. the recursive gradient rule vs autograd, at every node layer of random deep fc teacher/student
   pairs (Theorem 1 is exact per sample, so the error is float64 round-off);
2. the matrix form H*W̃*L*ᵀ − HW̃Lᵀ vs the true expected gradient per weight layer, on the
   Luck Matters teacher 10-15-20-25 (d = 20, c = 30) and a default-init student (the matrix form
   is exact only at the top layer).

:class:`RuleCheckConfig`'s fields are the defaults of ``relulab theory rule-check``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from relulab.config import RunConfig, StudentConfig, TeacherConfig
from relulab.nets.students import make_students
from relulab.nets.teachers import make_teachers
from relulab.rng import generator
from relulab.theory.matrix_form import expectations
from relulab.theory.recursive import random_net, rule_errors

STREAM = "theory-rule"  # rng stream of the Theorem 1 nets and of all inputs
# Theorem 1 nets: input dim, output dim, nets per depth (the leading S axis), samples per net.
RULE_INPUT_DIM, RULE_OUTPUT_DIM, RULE_NETS, RULE_SAMPLES = 8, 5, 2, 64
LUCK_TEACHER = TeacherConfig(input_dim=20, widths=(10, 15, 20, 25), output_dim=30)


@dataclass(frozen=True)
class RuleCheckConfig:
    depths: tuple[int, ...] = (1, 2, 3, 4)  # hidden-layer counts of the Theorem 1 nets
    width: int = 6  # teacher hidden width of the Theorem 1 nets (layer i: width + i)
    multi: int = 2  # student width / teacher width
    slope: float = 0.0  # Leaky ReLU slope (0 = ReLU)
    samples: int = 8192  # samples for the matrix-form expectations
    data_std: float = 10.0  # x ~ N(0, σ² I); Luck Matters: 10


@dataclass(frozen=True)
class Theorem1Row:
    teacher_widths: tuple[int, ...]
    student_widths: tuple[int, ...]
    errors: list[float]  # max |g_rule − g_autograd| per node layer (0 = input)


@dataclass(frozen=True)
class LayerErrorRow:
    layer: int  # weight layer, 1 = input to first hidden; the last one is the output layer
    shape: tuple[int, int]  # rows × cols of the augmented weight (bias column last)
    relative_error: float  # |matrix form − true expected gradient| / |true|, first net


@dataclass(frozen=True)
class RuleCheck:
    theorem1: list[Theorem1Row]  # one per depth
    matrix_form: list[LayerErrorRow]  # one per weight layer, input first


def theorem1_rows(cfg: RuleCheckConfig, g: torch.Generator,
                  device: torch.device | str = "cpu") -> list[Theorem1Row]:
    """Per depth, a random teacher (widths ``width, width + 1, …``) and a ``multi``× wider
    student, ``RULE_NETS`` of each, on ``RULE_SAMPLES`` standard normal inputs."""
    rows = []
    for depth in cfg.depths:
        tw = tuple(cfg.width + i for i in range(depth))
        sw = tuple(cfg.multi * w for w in tw)
        nets = [random_net(widths, RULE_INPUT_DIM, RULE_OUTPUT_DIM, RULE_NETS, generator=g,
                           leaky_slope=cfg.slope).to(device) for widths in (tw, sw)]
        x = torch.randn(RULE_NETS, RULE_SAMPLES, RULE_INPUT_DIM, generator=g,
                        dtype=torch.float64).to(device)
        rows.append(Theorem1Row(tw, sw, rule_errors(nets[0], nets[1], x)))
    return rows


def matrix_form_rows(cfg: RuleCheckConfig, seed: int, g: torch.Generator,
                     device: torch.device | str = "cpu") -> list[LayerErrorRow]:
    """The Luck Matters teacher and a default-init student (seed ``seed``'s teacher and student
    streams), ``samples`` inputs from ``g``."""
    tcfg = replace(LUCK_TEACHER, leaky_slope=cfg.slope)
    run = RunConfig(teacher=tcfg, student=StudentConfig(multi=cfg.multi, leaky_slope=cfg.slope))
    teacher = make_teachers(tcfg, [generator(seed, 0, "teacher")], dtype=torch.float64,
                            device=device)
    student = make_students(run, [generator(seed, 0, "student")], dtype=torch.float64,
                            device=device)
    x = torch.randn(1, cfg.samples, tcfg.input_dim, generator=g, dtype=torch.float64)
    terms = expectations(teacher, student, (x * cfg.data_std).to(device))
    return [LayerErrorRow(i + 1, tuple(t.true_grad.shape[1:]), float(t.relative_error[0]))
            for i, t in enumerate(terms)]


def rule_check(cfg: RuleCheckConfig, *, seed: int,
               device: torch.device | str = "cpu") -> RuleCheck:
    """Both checks, drawing from root seed ``seed`` (Theorem 1 first, then the matrix form)."""
    g = generator(seed, 0, STREAM)
    return RuleCheck(theorem1_rows(cfg, g, device), matrix_form_rows(cfg, seed, g, device))
