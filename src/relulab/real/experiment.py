"""Real-data teacher -> over-realized student: the Luck Matters CIFAR-10 experiment.

Per seed: a teacher classifier trained on the data set's labels, pruned and fine-tuned
(:mod:`relulab.real.teachers`), BN folded into a plain ReLU :class:`relulab.nets.networks.Net`;
then a student ``multi`` x wider per layer is trained by the ordinary engine on the teacher's
outputs (10 logits, MSE) over the training split's inputs, with the test split as the eval set. The
statistics are the random-teacher ones (:class:`relulab.training.recorder.StatsRecorder`: per-layer
rho-bar, greedy and Hungarian, threshold counts, recovery rates).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from relulab.nets.students import make_students
from relulab.real.classifier import to_net
from relulab.real.config import RealConfig, student_teacher_section
from relulab.real.datasets import NUM_CLASSES, Split, load_split
from relulab.real.source import RealSource
from relulab.real.teachers import TeacherInfo, get_teacher
from relulab.rng import generator
from relulab.threads import one_thread
from relulab.training.engine import TrainResult, train_group
from relulab.training.recorder import StatsRecorder


@dataclass
class RealResult:
    cfg: RealConfig  # with the student run's shapes and data sizes filled in
    result: TrainResult
    recorder: StatsRecorder
    teachers: list[TeacherInfo]

    def manifest_extra(self) -> dict[str, Any]:
        """What a run folder's manifest adds: the real-data settings and each teacher."""
        return {"real": {k: v for k, v in self.cfg.to_dict().items() if k != "run"},
                "teachers": [t.__dict__ for t in self.teachers]}


def student_config(cfg: RealConfig, split: Split) -> RealConfig:
    """``cfg`` with the student run's teacher shapes and data sizes taken from the data."""
    run = cfg.run
    data = replace(run.data, train_size=len(split.train_x), eval_size=len(split.test_x))
    teacher = student_teacher_section(cfg, split.input_shape, NUM_CLASSES)
    return replace(cfg, run=replace(run, teacher=teacher, data=data))


def run_real(cfg: RealConfig, seeds: list[int], *, data_root: str | Path | None = None,
             device: torch.device | str = "cpu", cache: Path | None = None,
             progress: bool = False, max_steps: int | None = None,
             split: Split | None = None) -> RealResult:
    """Teachers (cached under ``cache`` when given) and one student per seed, trained together.

    ``split`` passes already loaded data (tests); otherwise it is loaded from the preset's data
    set (``data_root`` for CIFAR-10). Digits runs use one torch thread
    (:func:`relulab.threads.one_thread`: tiny kernels).
    """
    small = cfg.dataset == "digits"  # dispatch-bound: a second thread only contends
    with one_thread() if small else nullcontext():
        return _run(cfg, seeds, data_root, device, cache, progress, max_steps, split)


def _run(cfg: RealConfig, seeds: list[int], data_root: str | Path | None,
         device: torch.device | str, cache: Path | None, progress: bool,
         max_steps: int | None, split: Split | None) -> RealResult:
    if split is None:
        split = load_split(cfg.dataset, kind=cfg.kind, image_size=cfg.image_size,
                           test_fraction=cfg.test_fraction, data_root=data_root)
    cfg = student_config(cfg, split)
    run = cfg.run
    teachers, infos = zip(*(get_teacher(cfg, split, s, cache) for s in seeds), strict=True)
    dtype = getattr(torch, run.dtype)
    teacher = to_net(list(teachers), dtype=dtype, device=device)
    student = make_students(run, [generator(run.root_seed, s, "student") for s in seeds],
                            dtype=dtype, device=device)
    source = RealSource(split.train_x, split.test_x, list(seeds), run.root_seed, device, dtype)
    recorder = StatsRecorder()
    result = train_group([run] * len(seeds), list(seeds), device=device, callbacks=[recorder],
                         progress=progress, max_steps=max_steps, source=source,
                         nets=(teacher, student))
    return RealResult(cfg, result, recorder, list(infos))
