"""A group of members ``(cfgs[i], seeds[i])`` of one batched run: their teachers, students and
data, each drawn from the member's own generators (so a member does not depend on the group)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from itertools import groupby
from typing import Any

import torch
from torch import Tensor, nn

from relulab.config import ConfigError, RunConfig, group_key
from relulab.data import DataSource, SyntheticSource
from relulab.nets.modules import from_modules
from relulab.nets.networks import Net, concat, predict
from relulab.nets.students import make_students
from relulab.nets.teachers import make_teachers
from relulab.rng import data_seed, generator


def check_group(cfgs: Sequence[RunConfig], seeds: Sequence[int]) -> None:
    if len(cfgs) != len(seeds) or not seeds:
        raise ConfigError("need one config per seed and at least one seed")
    if len({group_key(c) for c in cfgs}) != 1:
        raise ConfigError("configs in one batched run must have equal shapes and schedules")


def draw_nets(cfgs: Sequence[RunConfig], seeds: Sequence[int], src: DataSource,
               device: torch.device | str) -> tuple[Net, Net]:
    """Teachers and students of the members, each from its own generators; equal-config runs
    are drawn together."""
    dtype = getattr(torch, cfgs[0].dtype)
    data_seeds = [data_seed(s, c.shared_teacher) for c, s in zip(cfgs, seeds, strict=True)]
    tuning = src.eval_inputs() if any(c.teacher.needs_eval_set for c in cfgs) else None
    teachers, students, a = [], [], 0
    for c, equal in groupby(cfgs):  # consecutive members [a, b) with one config
        b = a + len(list(equal))
        teachers.append(make_teachers(
            c.teacher, [generator(c.root_seed, s, "teacher") for s in data_seeds[a:b]],
            tuning_inputs=None if tuning is None else tuning[a:b], dtype=dtype, device=device))
        students.append(make_students(
            c, [generator(c.root_seed, s, "student") for s in seeds[a:b]], dtype=dtype,
            device=device))
        a = b
    return concat(teachers), concat(students)


UserNets = Net | nn.Module | Sequence[nn.Module]


def nets_from_user(cfg: RunConfig, seeds: Sequence[int], teacher: UserNets,
                   student: UserNets | None = None, device: torch.device | str = "cpu", *,
                   strict: bool = False) -> tuple[RunConfig, Net, Net]:
    """Teachers (and students) given by the user for ``seeds``, and the config of what trains.

    ``teacher`` (and ``student``) is a Net, an ``nn.Module`` or a list of S modules
    (:func:`relulab.nets.modules.from_modules`); one module or a one-seed Net is repeated for
    every seed. The teacher's kind, input and output sizes, widths, activation, BatchNorm and
    dtype (and a given student's widths, activation and BatchNorm) replace the config's: the
    returned config records what actually trains. With ``strict=True`` any difference is a
    ConfigError naming the field instead. Without a student, the students are drawn from the
    returned config with each member's generators (as :func:`draw_nets`). A given student must
    fit the teacher (kind, input and output sizes, depth). Nets are moved to ``device``."""
    seeds = list(seeds)
    t_net = _user_net(teacher, len(seeds), "teacher")
    if str(t_net.weights[0].dtype).removeprefix("torch.") not in ("float32", "float64"):
        raise ConfigError(f"teacher has dtype {t_net.weights[0].dtype}; float32 or float64 "
                          "expected")
    s_net = None if student is None else _user_net(student, len(seeds), "student")
    if s_net is not None:
        _check_fits(s_net, t_net)
    out = _config_of(cfg, t_net, s_net, strict)
    dtype = getattr(torch, out.dtype)
    if s_net is None:
        s_net = make_students(out, [generator(out.root_seed, s, "student") for s in seeds],
                              dtype=dtype, device=device)
    return out, t_net.to(device), s_net.to(device, dtype)


def _user_net(given: UserNets, seeds: int, who: str) -> Net:
    net = given if isinstance(given, Net) else from_modules(given)
    if net.num_seeds == 1 and seeds > 1:
        net = concat([net] * seeds)
    if net.num_seeds != seeds:
        raise ConfigError(f"{who}: {net.num_seeds} nets for {seeds} seeds (give one, or one "
                          "per seed)")
    return net


def _io(net: Net) -> dict[str, Any]:
    """Kind, input size and output size of a net (conv: channels and the square image side)."""
    top = net.weights[-1].shape[1]
    if net.kind != "conv":
        return {"kind": "fc", "input_dim": net.weights[0].shape[-1], "output_dim": top}
    area = net.weights[-1].shape[-1] // net.weights[-2].shape[1]
    side = math.isqrt(area)
    if side * side != area:
        raise ConfigError(f"conv net with a {area}-pixel top feature map: square images "
                          "expected")
    return {"kind": "conv", "input_channels": net.weights[0].shape[2],
            "image_size": side + 2 * net.depth, "output_dim": top}


def _check_fits(student: Net, teacher: Net) -> None:
    got, want = _io(student), _io(teacher)
    for key in want:
        if got[key] != want[key]:
            raise ConfigError(f"student has {key} {got[key]} but the teacher has {want[key]}")
    if student.depth != teacher.depth:
        raise ConfigError(f"student has {student.depth} hidden layers but the teacher has "
                          f"{teacher.depth}")


def _config_of(cfg: RunConfig, teacher: Net, student: Net | None, strict: bool) -> RunConfig:
    """``cfg`` with the fields the nets decide set to theirs (strict: ConfigError on the first
    that differs)."""
    flags = ("leaky_slope", "batchnorm", "bn_before_relu")
    t_fields = {**_io(teacher), "widths": teacher.widths,
                **{f: getattr(teacher, f) for f in flags}}
    s_fields = {} if student is None else {
        "widths": student.widths, "bn_affine": bool(student.bn_weight),
        **{f: getattr(student, f) for f in flags}}
    dtype = str(teacher.weights[0].dtype).removeprefix("torch.")
    s_now = {**{f: getattr(cfg.student, f) for f in s_fields}, "widths": cfg.student_widths}
    for who, new, now in (("teacher", t_fields, vars(cfg.teacher)), ("student", s_fields, s_now),
                          ("teacher", {"dtype": dtype}, {"dtype": cfg.dtype})):
        for key, value in new.items():
            if strict and value != now[key]:
                raise ConfigError(f"{who} has {key} {value} but the config says {now[key]} "
                                  f"(strict; without it the config follows the {who})")
    student_cfg = cfg.student
    if student is not None:
        student_cfg = replace(cfg.student, **{**s_fields, "widths": tuple(student.widths)})
    elif cfg.student.widths is not None and len(cfg.student.widths) != teacher.depth:
        raise ConfigError(f"student.widths {cfg.student.widths} has {len(cfg.student.widths)} "
                          f"entries but the teacher has {teacher.depth} hidden layers")
    return replace(cfg, teacher=replace(cfg.teacher, **t_fields), student=student_cfg,
                   dtype=dtype)


def build_group(cfgs: Sequence[RunConfig], seeds: Sequence[int], *,
                device: torch.device | str = "cpu", source: DataSource | None = None
                ) -> tuple[Net, Net, DataSource]:
    """Teachers, students and data for members ``(cfgs[i], seeds[i])``."""
    cfgs, seeds = list(cfgs), list(seeds)
    check_group(cfgs, seeds)
    src = source or SyntheticSource.for_members(cfgs, seeds, device)
    return (*draw_nets(cfgs, seeds, src, device), src)


def build(cfg: RunConfig, seeds: Sequence[int], *, device: torch.device | str = "cpu",
          source: DataSource | None = None) -> tuple[Net, Net, DataSource]:
    """Teachers, students and data source for ``seeds`` of one config."""
    return build_group([cfg] * len(list(seeds)), list(seeds), device=device, source=source)


@torch.no_grad()
def predict_chunked(net: Net, x: Tensor, chunk: int = 8192) -> Tensor:
    return torch.cat([predict(net, x[:, i:i + chunk]) for i in range(0, x.shape[1], chunk)], 1)


def memory_estimate(cfg: RunConfig, members: int) -> int:
    """Bytes that ``members`` members of ``cfg`` hold at least while training: training and
    eval inputs with teacher targets, teacher and student weights (student x3: gradients and
    optimizer state) and one batch of student activations. A lower bound, for refusing runs
    that cannot fit before any work starts."""
    from math import prod

    from relulab.nets.networks import input_shape, layer_shapes

    item = 8 if cfg.dtype == "float64" else 4
    d, c = prod(input_shape(cfg.teacher)), cfg.teacher.output_dim
    samples = (cfg.data.train_size or 0) + cfg.data.eval_size
    data = samples * (d + c) * item + samples * d * 4  # float32 draws, then cast
    teacher = sum(prod(s) for s in layer_shapes(cfg.teacher, cfg.teacher.widths))
    student = sum(prod(s) for s in layer_shapes(cfg.teacher, cfg.student_widths))
    side = input_shape(cfg.teacher)[-1] ** 2 if cfg.teacher.kind == "conv" else 1
    batch = cfg.batch_size * sum(cfg.student_widths) * side
    return members * (data + (teacher + 3 * student + 2 * batch) * item)


def resolve_device(device: str | torch.device, option: str = "device") -> torch.device:
    """``auto`` -> CUDA when available, else the CPU; ``cpu`` or ``cuda`` as named (a
    ``torch.device`` as it is). ConfigError (one line, naming ``option``) for another name or
    for ``cuda`` without a CUDA device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{option} cuda requested but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"{option} must be auto, cpu or cuda, got '{device}'")
    return torch.device(device)


def device_memory(device: torch.device | str) -> int:
    """Total memory of ``device`` in bytes (physical RAM for the CPU)."""
    import os

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(cfg: RunConfig, members: int, device: torch.device | str) -> None:
    """ConfigError when ``members`` members of ``cfg`` cannot fit in ``device``'s memory."""
    need, have = memory_estimate(cfg, members), device_memory(device)
    if need > 0.9 * have:
        raise ConfigError(
            f"{members} member(s) of this config need at least {need / 2**30:.1f} GiB, more "
            f"than the {have / 2**30:.1f} GiB of {torch.device(device).type} memory; use fewer "
            "seeds or a smaller training set, eval set or network")
