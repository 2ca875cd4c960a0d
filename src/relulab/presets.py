"""Named configs reproducing paper settings (see shared PAPERS.md §2–4)."""

from __future__ import annotations

from dataclasses import dataclass

from relulab.config import (
    ConfigError,
    DataConfig,
    OptimConfig,
    RunConfig,
    StudentConfig,
    TeacherConfig,
)

NINE_WEIGHTS = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    config: RunConfig


def _luck(widths: tuple[int, ...], epochs: int = 40) -> RunConfig:
    return RunConfig(
        teacher=TeacherConfig(input_dim=20, widths=widths, output_dim=100),
        student=StudentConfig(multi=10),
        data=DataConfig(std=10.0, train_size=100_000, eval_size=1024),
        optim=OptimConfig(name="sgd", lr=0.01, batch_size=64, epochs=epochs),
    )


def _spec_two_layer() -> RunConfig:
    return RunConfig(
        teacher=TeacherConfig(
            input_dim=100, widths=(10,), output_dim=50, weight_choices=NINE_WEIGHTS,
            bias="constant", bias_value=-0.1, normalize="fan_in",
        ),
        student=StudentConfig(multi=5, init="normal", init_std=0.005),
        data=DataConfig(std=1.5, train_size=10_000, eval_size=10_000),
        optim=OptimConfig(name="sgd", lr=0.01, batch_size=16, epochs=100, steps_per_epoch=1000),
    )


def _spec_multilayer() -> RunConfig:
    return RunConfig(
        teacher=TeacherConfig(
            input_dim=100, widths=(50, 75, 100, 125), output_dim=50,
            weight_choices=NINE_WEIGHTS, bias="constant", bias_value=-0.1,
            normalize="row_and_bias", bias_tuning=True,
        ),
        student=StudentConfig(multi=5, scale_down=0.1),
        data=DataConfig(std=1.5, train_size=200_000, eval_size=10_240),
        optim=OptimConfig(name="sgd", lr=0.2, lr_schedule=((0, 0.2), (20, 0.1)), batch_size=16,
                          epochs=40, steps_per_epoch=1000),
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("luck-fc", "Luck Matters FC: teacher 50-75-100-125, student 10x, d=20, c=100, "
               "sigma=10, 40 epochs of 100k", _luck((50, 75, 100, 125))),
        Preset("luck-fc-small", "Luck Matters code default: teacher 10-15-20-25, student 10x",
               _luck((10, 15, 20, 25))),
        Preset("luck-conv", "Luck Matters conv: teacher 64-64-64-64 3x3 on 1x16x16, student 10x",
               RunConfig(
                   teacher=TeacherConfig(kind="conv", widths=(64, 64, 64, 64), output_dim=100,
                                         image_size=16),
                   student=StudentConfig(multi=10),
                   data=DataConfig(std=10.0, train_size=100_000, eval_size=1024),
                   optim=OptimConfig(name="sgd", lr=0.01, batch_size=64, epochs=40),
               )),
        Preset("spec-two-layer", "Student Specialization two-layer: d=100, m=10, multi=5, c=50, "
               "p=0, sigma=1.5, N=10000, 100x1000 steps", _spec_two_layer()),
        Preset("spec-multilayer", "Student Specialization deep: 50-75-100-125, lr 0.2->0.1 at "
               "epoch 20, bias tuning, scale-down 0.1", _spec_multilayer()),
        Preset("demo", "Small two-layer run that finishes in well under a minute on 2 cores",
               RunConfig(
                   teacher=TeacherConfig(
                       input_dim=20, widths=(5,), output_dim=10, weight_choices=NINE_WEIGHTS,
                       bias="constant", bias_value=-0.1, normalize="fan_in"),
                   student=StudentConfig(multi=4, init="normal", init_std=0.05),
                   data=DataConfig(std=1.5, train_size=4000, eval_size=1024),
                   optim=OptimConfig(name="sgd", lr=0.05, batch_size=16, epochs=8,
                                     steps_per_epoch=250),
               )),
    ]
}


def get_preset(name: str) -> RunConfig:
    """The config of preset ``name`` (ConfigError naming the known presets otherwise)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return PRESETS[name].config
