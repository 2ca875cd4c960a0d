"""Named configs reproducing paper settings (docs/conventions.md)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import Any, Literal

from relulab.config import (
    ConfigError,
    DataConfig,
    OptimConfig,
    RunConfig,
    StatsConfig,
    StudentConfig,
    TeacherConfig,
)

# the Luck Matters code correlates its first 3 training minibatches (192 samples) for the winner
# ranks' initial order (docs/conventions.md); relulab keeps the whole eval set for rho-bar
LUCK_STATS = StatsConfig(train_samples=192)
NINE_WEIGHTS = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Preset:
    """A named config. ``synthetic``: a :class:`RunConfig` (``train`` and ``sweep``);
    ``real``: a teacher trained on a real data set (``train`` only), whose full config
    (:class:`relulab.real.RealConfig`) ``loader`` (``"module:function"``) builds."""

    name: str
    summary: str
    config: RunConfig | None = None
    kind: Literal["synthetic", "real"] = "synthetic"
    loader: str | None = None

    @property
    def commands(self) -> tuple[str, ...]:
        return ("train", "sweep") if self.kind == "synthetic" else ("train",)

    def full_config(self) -> Any:
        """The preset's config object (a RunConfig, or the real-data config)."""
        if self.config is not None:
            return self.config
        module, _, name = (self.loader or "").partition(":")
        return getattr(importlib.import_module(module), name)(self.name)


def _luck(widths: tuple[int, ...], epochs: int = 40) -> RunConfig:
    return RunConfig(
        teacher=TeacherConfig(input_dim=20, widths=widths, output_dim=100),
        student=StudentConfig(multi=10),
        data=DataConfig(std=10.0, train_size=100_000, eval_size=1024),
        optim=OptimConfig(name="sgd", lr=0.01, batch_size=64, epochs=epochs),
        stats=LUCK_STATS,
    )


def _luck_conv(widths: tuple[int, ...], train_size: int = 100_000, epochs: int = 40
               ) -> RunConfig:
    return RunConfig(
        teacher=TeacherConfig(kind="conv", widths=widths, output_dim=100, image_size=16),
        student=StudentConfig(multi=10),
        data=DataConfig(std=10.0, train_size=train_size, eval_size=1024),
        optim=OptimConfig(name="sgd", lr=0.01, batch_size=64, epochs=epochs),
    )


def with_lr(cfg: RunConfig, lr: float) -> RunConfig:
    return replace(cfg, optim=replace(cfg.optim, lr=lr))


def _spec_two_layer() -> RunConfig:
    """The two-layer original (docs/conventions.md): hand-written update = ½·Σ_outputs loss,
    float64, minibatches drawn with replacement, teacher bias −0.1 on both layers, W1 fan-in
    normalized."""
    return RunConfig(
        teacher=TeacherConfig(
            input_dim=100, widths=(10,), output_dim=50, weight_choices=NINE_WEIGHTS,
            bias="constant", bias_value=-0.1, normalize="fan_in",
        ),
        student=StudentConfig(multi=5, init="normal", init_std=0.005),
        data=DataConfig(std=1.5, train_size=10_000, eval_size=10_000, sampling="replacement"),
        optim=OptimConfig(name="sgd", loss="half_sum", lr=0.01, batch_size=16, epochs=100,
                          steps_per_epoch=1000),
        dtype="float64",
    )


def _spec_multilayer(scale_down: float = 0.1) -> RunConfig:
    """``conf/config_multilayer.yaml`` + README command (docs/conventions.md): full shuffled passes
    over 200,000 samples, ``nn.MSELoss``, bias tuning and output standardization."""
    return RunConfig(
        teacher=TeacherConfig(
            input_dim=20, widths=(50, 75, 100, 125), output_dim=100,
            weight_choices=NINE_WEIGHTS, bias="uniform", bias_range=0.5,
            normalize="row_and_bias", bias_tuning=True, standardize_output=True,
        ),
        student=StudentConfig(multi=10, scale_down=scale_down),
        data=DataConfig(std=10.0, train_size=200_000, eval_size=10_240),
        optim=OptimConfig(name="sgd", loss="mse", lr=0.2, lr_schedule=((0, 0.2), (20, 0.1)),
                          batch_size=64, epochs=100),
    )


def _demo() -> RunConfig:
    """spec-two-layer at the size of the original's recorded small run (fidelity reference)."""
    cfg = _spec_two_layer()
    return replace(cfg, teacher=replace(cfg.teacher, input_dim=20, widths=(5,), output_dim=20),
                   student=replace(cfg.student, multi=2),
                   data=replace(cfg.data, train_size=2000, eval_size=2000),
                   optim=replace(cfg.optim, epochs=10, steps_per_epoch=500))


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("luck-fc", "Luck Matters FC: teacher 50-75-100-125, student 10x, d=20, c=100, "
               "sigma=10, 40 epochs of 100k", _luck((50, 75, 100, 125))),
        Preset("luck-fc-small", "Luck Matters code default: teacher 10-15-20-25, student 10x",
               _luck((10, 15, 20, 25))),
        Preset("luck-conv", "Luck Matters conv: teacher 64-64-64-64 3x3 on 1x16x16, student 10x. "
               "GPU-sized: ~0.44 TFLOP per step per seed, ~87 h per seed for 40 epochs on 2 "
               "CPU cores (use luck-conv-small there)", _luck_conv((64, 64, 64, 64))),
        Preset("luck-conv-small", "luck-conv at CPU size: teacher 8-8-8-8 3x3 on 1x16x16, "
               "student 10x, 12800 samples x 5 epochs (1000 steps, ~7 GFLOP each); minutes "
               "per seed on 2 cores", _luck_conv((8, 8, 8, 8), train_size=12_800, epochs=5)),
        Preset("luck-fc-readme", "Luck Matters README command: teacher 10-15-20-25, student 10x, "
               "lr 0.05", with_lr(_luck((10, 15, 20, 25)), 0.05)),
        Preset("spec-two-layer", "Student Specialization two-layer original: d=100, m=10, "
               "multi=5, c=50, sigma=1.5, N=10000 drawn with replacement, half_sum loss, "
               "float64, 100x1000 steps", _spec_two_layer()),
        Preset("spec-multilayer", "Student Specialization deep (config + README): 50-75-100-125 "
               "x10, d=20, c=100, sigma=10, 100 passes of 200k, lr 0.2->0.1 at epoch 20, "
               "scale-down 0.1", _spec_multilayer()),
        Preset("spec-multilayer-orig", "spec-multilayer as the original actually ran it "
               "(scale-down undone by its parameter reset: 1.0)", _spec_multilayer(1.0)),
        Preset("demo", "Small two-layer run with the two-layer original's conventions (the "
               "fidelity reference's size: d=20, c=20, N=2000, 10x500 steps); under a minute",
               _demo()),
    ]
}


_REAL = "relulab.real.config:get_real_preset"
REAL_SUMMARIES = {
    "real-digits-fc": "digits (8x8 -> 64 inputs) FC teacher 128-128-128 with BN, trained, pruned "
                      "to 32-32-32 by activation; student 10x; a few minutes on 2 cores",
    "real-digits-conv": "digits resized to 16x16, conv teacher 32-32 (3x3) with BN, pruned to "
                        "8-8; student 10x",
    "real-cifar10-fc": "CIFAR-10 (--data-root, binary version) FC teacher 512-512-512 with BN on "
                       "3072 inputs, pruned to 64-64-64; student 10x",
    "real-cifar10-conv": "CIFAR-10 (--data-root) conv teacher 64-64-64-64 (3x3, no padding) "
                         "with BN on 3x32x32, pruned to 16-16-16-16; student 10x",
}

# every preset, synthetic and real: the registry the command line asks
REGISTRY: dict[str, Preset] = {
    **PRESETS,
    **{name: Preset(name, summary, kind="real", loader=_REAL)
       for name, summary in REAL_SUMMARIES.items()},
}


def find_preset(name: str) -> Preset:
    """The registry's entry ``name`` (ConfigError naming the known presets otherwise)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def get_preset(name: str) -> RunConfig:
    """The config of synthetic preset ``name`` (ConfigError naming the known presets for an
    unknown name, and the commands a real-data preset takes for one of those)."""
    preset = find_preset(name)
    if preset.config is None:
        raise ConfigError(f"preset '{name}' trains a teacher on real data: "
                          f"{' and '.join(preset.commands)} only")
    return preset.config
