"""A group of members ``(cfgs[i], seeds[i])`` of one batched run: their teachers, students and
data, each drawn from the member's own generators (so a member does not depend on the group)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import torch
from torch import Tensor

from relulab.config import ConfigError, RunConfig, group_key
from relulab.data import DataSource, SyntheticSource
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
