"""A group of members ``(cfgs[i], seeds[i])`` of one batched run: their teachers, students and
data, each drawn from the member's own generators (so a member does not depend on the group)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import torch
from torch import Tensor

from relulab.config import ConfigError, RunConfig, group_key
from relulab.data import DataSource, SyntheticSource
from relulab.networks import Net, concat, predict
from relulab.rng import data_seed, generator
from relulab.students import make_students
from relulab.teachers import make_teachers


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
    needs_tuning = any(c.teacher.bias_tuning or c.teacher.standardize_output for c in cfgs)
    tuning = src.eval_inputs() if needs_tuning else None
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
