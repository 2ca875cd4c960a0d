"""relulab: the teacher-student theory of ReLU networks, runnable, checkable and fast."""

from relulab.config import (
    ConfigError,
    DataConfig,
    OptimConfig,
    RunConfig,
    StudentConfig,
    TeacherConfig,
    with_overrides,
)
from relulab.engine import StatsContext, TrainResult, build, train
from relulab.networks import Net, forward, predict
from relulab.presets import PRESETS, get_preset

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "ConfigError", "DataConfig", "Net", "OptimConfig", "RunConfig", "StatsContext",
    "StudentConfig", "TeacherConfig", "TrainResult", "build", "forward", "get_preset",
    "predict", "train", "with_overrides",
]
