"""Fixtures for the metrics tests: small networks and one short recorded training run."""

from __future__ import annotations

import pytest
import torch

from relulab import RunConfig, TeacherConfig, build, get_preset, with_overrides
from relulab.config import DataConfig, OptimConfig, StudentConfig
from relulab.threads import one_thread as one_torch_thread
from relulab.training.engine import TrainResult, train
from relulab.training.recorder import StatsRecorder

DEMO_SEEDS = [0, 1, 2]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run these tests on one CPU thread, restored after each module (module-scoped fixtures
    that train are set up after this autouse one). The trainings here (batch <= 64, widths
    <= 250) are dispatch-bound, so a second thread gains nothing, while on a shared, busy
    machine two threads contending with other processes made the luck test 20x slower
    (measured: 141 s vs 7 s)."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def demo_cfg() -> RunConfig:
    """The demo preset (two-layer, m=5) with a 4x student (n=20), 2 epochs of 100 steps."""
    return with_overrides(get_preset("demo"), {"epochs": 2, "steps_per_epoch": 100, "multi": 4,
                                                 "stats.epoch_grad": True})


@pytest.fixture(scope="module")
def demo_run(demo_cfg: RunConfig) -> tuple[TrainResult, StatsRecorder]:
    recorder = StatsRecorder()
    result = train(demo_cfg, DEMO_SEEDS, callbacks=[recorder])
    return result, recorder


@pytest.fixture(scope="session")
def deep_cfg() -> RunConfig:
    """A three-layer fc teacher 4-5-6 (d=6, c=3) and a 2x student; a few steps per epoch."""
    return RunConfig(
        teacher=TeacherConfig(input_dim=6, widths=(4, 5, 6), output_dim=3),
        student=StudentConfig(multi=2),
        data=DataConfig(std=2.0, train_size=512, eval_size=300),
        optim=OptimConfig(lr=0.01, batch_size=32, epochs=2, steps_per_epoch=10),
    )


@pytest.fixture(scope="session")
def conv_cfg() -> RunConfig:
    """A two-layer conv teacher (3 and 2 channels, 3x3, 7x7 input) and a 2x student."""
    return RunConfig(
        teacher=TeacherConfig(kind="conv", widths=(3, 2), output_dim=4, image_size=7),
        student=StudentConfig(multi=2),
        data=DataConfig(std=2.0, train_size=256, eval_size=40),
        optim=OptimConfig(lr=0.01, batch_size=16, epochs=1, steps_per_epoch=5),
    )


@pytest.fixture
def deep_nets(deep_cfg: RunConfig):
    """(teacher, student, eval inputs) of two seeds of ``deep_cfg``."""
    teacher, student, src = build(deep_cfg, [0, 1])
    return teacher, student, src.eval_inputs()


@pytest.fixture
def conv_nets(conv_cfg: RunConfig):
    teacher, student, src = build(conv_cfg, [0, 1])
    return teacher, student, src.eval_inputs()


def _relu_features(n_samples: int, width: int, *, generator: torch.Generator,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    x = torch.randn(n_samples, 8, generator=generator, dtype=dtype)
    w = torch.randn(8, width, generator=generator, dtype=dtype)
    return torch.relu(x @ w + 0.5)


@pytest.fixture(scope="session")
def relu_features():
    """``f(N, width, generator=g) -> (N, width)`` activations of a random ReLU layer on Gaussian
    inputs (bias 0.5, so columns are almost surely not constant)."""
    return _relu_features
