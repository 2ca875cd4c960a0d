"""Real-data teacher settings and the ``real-*`` presets.

A :class:`RealConfig` says how the teacher is made (data set, architecture, training, pruning);
its ``run`` is the student's ordinary :class:`relulab.config.RunConfig`, whose teacher section
describes the *pruned* teacher's shapes (input, widths, 10 outputs). Data sizes in ``run.data``
are set from the loaded data set (:func:`relulab.real.experiment.student_config`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from relulab.config import (
    ConfigError,
    DataConfig,
    OptimConfig,
    RunConfig,
    StudentConfig,
    TeacherConfig,
    with_overrides,
)
from relulab.config.fields import _check, _check_types
from relulab.config.ids import json_hash
from relulab.config.overrides import _parse_scalar
from relulab.config.presets import REAL_SUMMARIES


@dataclass(frozen=True)
class RealConfig:
    dataset: Literal["digits", "cifar10"] = "digits"
    kind: Literal["fc", "conv"] = "fc"  # teacher (and student) architecture
    image_size: int = 8  # images resized to this side (digits 8 -> 16 for conv; CIFAR 32)
    widths: tuple[int, ...] = (128, 128, 128)  # trained teacher's hidden widths / channels
    pruned_widths: tuple[int, ...] = (32, 32, 32)  # kept per layer after pruning
    prune: Literal["magnitude", "activation"] = "activation"  # node score (relulab.real.prune)
    batchnorm: bool = True  # teacher Conv/Linear -> BN -> ReLU (BN folded away for the student)
    teacher_epochs: int = 30  # cross-entropy epochs before pruning
    finetune_epochs: int = 10  # cross-entropy epochs after pruning (0 = none)
    teacher_lr: float = 0.02  # SGD, momentum 0.9, weight decay 5e-4
    teacher_batch: int = 64
    test_fraction: float = 0.25  # digits only: held-out share (CIFAR-10: official test batch)
    run: RunConfig = RunConfig()  # the student run (see module docstring)

    def __post_init__(self) -> None:
        _check_types(self)
        _check(len(self.widths) == len(self.pruned_widths),
               "real.pruned_widths needs one entry per teacher layer")
        for w, p in zip(self.widths, self.pruned_widths, strict=True):
            _check(1 <= p <= w, f"real.pruned_widths: cannot prune {w} nodes to {p}")
        _check(self.image_size >= 1, "real.image_size must be positive")
        if self.kind == "conv":
            _check(self.image_size - 2 * len(self.widths) >= 1,
                   "real: image_size too small for the number of 3x3 layers")
        _check(self.teacher_epochs >= 0 and self.finetune_epochs >= 0,
               "real: teacher epochs must be >= 0")
        _check(self.teacher_lr > 0 and self.teacher_batch >= 2, "real: bad teacher lr or batch")
        _check(0 < self.test_fraction < 1, "real.test_fraction must be in (0, 1)")

    def teacher_key(self) -> str:
        """Hash of everything the trained teacher depends on (its cache key)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "run"}
        return json_hash({**d, "root_seed": self.run.root_seed})

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "run"}
        return {**d, "run": self.run.to_dict()}


def with_real_overrides(cfg: RealConfig, overrides: dict[str, str]) -> RealConfig:
    """Apply ``--set`` items: ``real.<field>=value`` to the teacher settings, anything else to
    the student run (as ``relulab train --set``)."""
    hints = typing.get_type_hints(RealConfig)
    names = {f.name for f in fields(RealConfig)} - {"run"}
    mine: dict[str, Any] = {}
    for key, text in overrides.items():
        if not key.startswith("real."):
            continue
        name = key.removeprefix("real.")
        _check(name in names, f"unknown config key '{key}'")
        tp = hints[name]
        if typing.get_origin(tp) is tuple:
            parts = [p for p in text.split(",") if p.strip()]
            _check(bool(parts), f"{key}: empty list")
            mine[name] = tuple(_parse_scalar(p, int, key) for p in parts)
        else:
            mine[name] = _parse_scalar(text, tp, key)
    rest = {k: v for k, v in overrides.items() if not k.startswith("real.")}
    try:
        return replace(cfg, run=with_overrides(cfg.run, rest), **mine)
    except TypeError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def _student_run(lr: float, epochs: int, multi: int, batch: int = 64) -> RunConfig:
    """The student side: SGD on MSE to the teacher's 10 outputs (Luck Matters' optimizer)."""
    return RunConfig(student=StudentConfig(multi=multi),
                     data=DataConfig(train_size=1, eval_size=2),  # set from the data set
                     optim=OptimConfig(name="sgd", lr=lr, batch_size=batch, epochs=epochs))


_REAL_CONFIGS: dict[str, RealConfig] = {
    "real-digits-fc": RealConfig(run=_student_run(lr=0.02, epochs=100, multi=10)),
    "real-digits-conv": RealConfig(
        kind="conv", image_size=16, widths=(32, 32), pruned_widths=(8, 8),
        run=_student_run(lr=0.01, epochs=30, multi=10)),
    "real-cifar10-fc": RealConfig(
        dataset="cifar10", image_size=32, widths=(512, 512, 512), pruned_widths=(64, 64, 64),
        teacher_epochs=20, finetune_epochs=5, run=_student_run(lr=0.01, epochs=40, multi=10)),
    "real-cifar10-conv": RealConfig(
        dataset="cifar10", kind="conv", image_size=32, widths=(64, 64, 64, 64),
        pruned_widths=(16, 16, 16, 16), teacher_epochs=20, finetune_epochs=5,
        run=_student_run(lr=0.01, epochs=40, multi=10)),
}
# the summaries live with the one preset registry (relulab.config.presets.REGISTRY)
REAL_PRESETS: dict[str, tuple[str, RealConfig]] = {
    name: (REAL_SUMMARIES[name], cfg) for name, cfg in _REAL_CONFIGS.items()}


def get_real_preset(name: str) -> RealConfig:
    if name not in REAL_PRESETS:
        raise ConfigError(f"unknown real-data preset '{name}' (known: {', '.join(REAL_PRESETS)})")
    return REAL_PRESETS[name][1]


def student_teacher_section(cfg: RealConfig, input_shape: tuple[int, ...],
                            num_classes: int) -> TeacherConfig:
    """The student run's teacher section: the pruned teacher's shapes."""
    if cfg.kind == "conv":
        return TeacherConfig(kind="conv", widths=cfg.pruned_widths, output_dim=num_classes,
                             image_size=input_shape[-1], input_channels=input_shape[0])
    return TeacherConfig(kind="fc", input_dim=input_shape[0], widths=cfg.pruned_widths,
                         output_dim=num_classes)
