"""Run configuration: frozen, validated dataclasses (one section each) and the run config.

Glossary used across relulab: ``S`` seeds/configs, ``N`` samples, ``d`` input dim,
``m`` teacher width, ``n`` student width, ``L`` depth, ``c`` outputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from relulab.config.checks import ConfigError, _check, _check_types
from relulab.config.ids import json_hash
from relulab.config.recording import StatsConfig

__all__ = ["ConfigError", "DataConfig", "OptimConfig", "RunConfig", "StatsConfig",
           "StudentConfig", "TeacherConfig", "_check", "_check_types", "flatten", "group_key"]


def _check_flags(cfg: Any, section: str) -> None:  # teacher and student
    _check(0.0 <= cfg.leaky_slope <= 1.0,
           f"{section}.leaky_slope must be in [0, 1] (1 = linear), got {cfg.leaky_slope}")
    for flag in ("bn_before_relu", "bn_affine"):
        _check(not getattr(cfg, flag, False) or cfg.batchnorm,
               f"{section}.{flag} needs {section}.batchnorm=true")


@dataclass(frozen=True)
class TeacherConfig:
    kind: Literal["fc", "conv"] = "fc"  # fully connected or convolutional teacher
    input_dim: int = 20  # d (fc); conv inputs are 1 x image_size x image_size
    widths: tuple[int, ...] = (10, 15, 20, 25)  # hidden widths (fc) / channels (conv), bottom up
    output_dim: int = 100  # c, linear top layer
    image_size: int = 16  # conv only: input side length
    input_channels: int = 1  # conv only: input channels (3 for CIFAR-10 colour images)
    weight_choices: tuple[float, ...] = (-0.5, -0.25, 0.0, 0.25, 0.5)  # discrete entry set
    bias: Literal["uniform", "constant", "none"] = "uniform"  # U(-range, range) | value | all 0
    bias_range: float = 0.5
    bias_value: float = -0.1  # used when bias == "constant"
    normalize: Literal["row_and_bias", "fan_in", "none"] = "row_and_bias"
    # row_and_bias: row and its bias divided by |row|+1e-5 (Luck Matters, all layers);
    # fan_in: hidden rows to unit norm, bias and output layer untouched (Student Specialization)
    fan_out_decay: float = 0.0  # p: fan-out of node i divided by (i+1)^p
    bias_tuning: bool = False  # set biases so each node is active on 50 % of the eval set
    standardize_output: bool = False  # outputs mean 0, std 1 on the eval set
    leaky_slope: float = 0.0  # 0 = ReLU, 1 = linear (the original's nonlinear=false)
    # --- the original code's flags ---
    batchnorm: bool = False  # BN in every hidden layer, eval mode, statistics of the eval set
    bn_before_relu: bool = False  # Linear -> BN -> ReLU instead of Linear -> ReLU -> BN

    @property
    def needs_eval_set(self) -> bool:  # bias tuning, standardization, BN statistics
        return self.bias_tuning or self.standardize_output or self.batchnorm

    def __post_init__(self) -> None:
        _check_types(self)
        _check_flags(self, "teacher")
        _check(self.bias != "none" or not (self.bias_tuning or self.standardize_output),
               "teacher.bias=none conflicts with bias_tuning / standardize_output")
        _check(self.input_dim >= 1, f"teacher.input_dim must be positive, got {self.input_dim}")
        _check(len(self.widths) >= 1, "teacher.widths must list at least one hidden layer")
        for w in self.widths:
            _check(w >= 1, f"teacher.widths must be positive, got {w}")
        _check(self.output_dim >= 1, f"teacher.output_dim must be positive, got {self.output_dim}")
        _check(len(self.weight_choices) >= 2, "teacher.weight_choices needs at least two values")
        _check(any(v != 0 for v in self.weight_choices), "teacher.weight_choices are all zero")
        _check(self.bias_range >= 0, "teacher.bias_range must be >= 0")
        _check(self.fan_out_decay >= 0, "teacher.fan_out_decay (p) must be >= 0")
        _check(self.input_channels >= 1, "teacher.input_channels must be positive")
        if self.kind == "conv":
            _check(self.image_size - 2 * len(self.widths) >= 1,
                   "conv teacher: image_size too small for the number of 3x3 layers")


@dataclass(frozen=True)
class StudentConfig:
    multi: int = 10  # each hidden layer multi x the teacher's width
    widths: tuple[int, ...] | None = None  # explicit hidden widths (overrides multi)
    init: Literal["default", "normal"] = "default"  # PyTorch default init or N(0, init_std^2)
    init_std: float = 0.005  # used when init == "normal"; biases then start at 0
    scale_down: float = 1.0  # multiply initial weights (and biases) by this
    leaky_slope: float = 0.0  # 0 = ReLU, 1 = linear (the original's nonlinear=false)
    batchnorm: bool = False  # Linear -> ReLU -> BN (affine off)
    # --- the original code's flags ---
    bn_before_relu: bool = False  # Linear -> BN -> ReLU
    bn_affine: bool = False  # BN with a trained scale and shift per node
    bias: bool = True  # False: every bias fixed at 0 (the original's no_bias)
    normalize: Literal["none", "fan_in", "row_and_bias"] = "none"
    # at init and after every step (relulab.nets.rules): fan_in = hidden rows to unit norm
    # (two-layer code); row_and_bias = all rows and biases / (|row| + 1e-5) (multilayer code)
    frozen: tuple[int, ...] = ()  # layers kept at their initial values: 0 = first, -1 = top

    def __post_init__(self) -> None:
        _check_types(self)
        _check_flags(self, "student")
        _check(self.multi >= 1, f"student.multi must be >= 1, got {self.multi}")
        if self.widths is not None:
            for w in self.widths:
                _check(w >= 1, f"student.widths must be positive, got {w}")
        _check(self.init_std >= 0, "student.init_std must be >= 0")
        _check(self.scale_down > 0, "student.scale_down must be > 0")


@dataclass(frozen=True)
class DataConfig:
    kind: Literal["gaussian", "uniform", "theory_suggested"] = "gaussian"
    # N(0, std^2 I), U(-std/2, std/2)^d, or (two-layer) the theory-suggested training set:
    # teacher boundary points and their +-alpha shifts (relulab.data.suggested); eval Gaussian
    std: float = 10.0  # sigma of the Gaussian / WIDTH of the uniform box (the original's rule)
    train_size: int | None = 100_000  # finite training set per seed; None = fresh samples
    eval_size: int = 1024  # separate eval set per seed
    sampling: Literal["pass", "replacement"] = "pass"
    # pass: shuffled passes over the training set (torch DataLoader); replacement: every
    # minibatch drawn i.i.d. with replacement (the two-layer original's random.choices)
    regenerate: bool = False  # a new training set every epoch (the original's flag)
    alpha_mean: float = 1.0  # theory_suggested: shift alpha ~ U[alpha_mean, alpha_mean + width)
    alpha_width: float = 1.0

    def __post_init__(self) -> None:
        _check_types(self)
        _check(not self.regenerate or self.train_size is not None,
               "data.regenerate needs a finite data.train_size")
        _check(self.std > 0, f"data.std must be > 0, got {self.std}")
        _check(self.train_size is None or self.train_size >= 1,
               "data.train_size must be positive (or none for fresh samples)")
        _check(self.eval_size >= 2, "data.eval_size must be >= 2")
        _check(self.alpha_width > 0, f"data.alpha_width must be > 0, got {self.alpha_width}")


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["sgd", "adam", "gd"] = "sgd"  # gd = full-batch gradient descent
    loss: Literal["mse", "half_sum", "cross_entropy"] = "mse"
    # mse: torch MSELoss, mean over batch and outputs (Luck Matters, multilayer code);
    # half_sum: 1/2 sum over outputs, mean over batch (two-layer code): c/2 x the mse gradient;
    # cross_entropy: class = argmax of the teacher's outputs, torch CrossEntropyLoss (mean)
    lr: float = 0.01
    lr_schedule: tuple[tuple[int, float], ...] = ()  # ((epoch, lr), ...), overrides lr
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)  # adam
    batch_size: int = 64
    epochs: int = 40
    steps_per_epoch: int | None = None  # None = ceil(train_size / batch_size)

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _check(self.batch_size >= 1, f"optim.batch_size must be positive, got {self.batch_size}")
        _check(self.epochs >= 0, f"optim.epochs must be >= 0, got {self.epochs}")
        _check(self.steps_per_epoch is None or self.steps_per_epoch >= 1,
               "optim.steps_per_epoch must be positive")
        _check(0 <= self.momentum < 1, "optim.momentum must be in [0, 1)")
        _check(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        for e, lr in self.lr_schedule:
            _check(e >= 0 and lr > 0, f"optim.lr_schedule entry ({e}, {lr}) is invalid")

    def lr_at(self, epoch: int) -> float:
        """Learning rate in effect at ``epoch`` (last schedule entry with start <= epoch)."""
        lr = self.lr
        for start, value in sorted(self.lr_schedule):
            if start <= epoch:
                lr = value
        return lr


@dataclass(frozen=True)
class RunConfig:
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    root_seed: int = 0  # all generators derive from (root_seed, seed, stream)
    stats_every: int = 1  # statistics cadence in epochs (plus at init); 0 = only init and end
    dtype: Literal["float32", "float64"] = "float32"  # training precision (two-layer orig: 64)
    shared_teacher: bool = False
    # True: every seed trains against ONE teacher and data set (drawn as seed rng.SHARED_SEED; the
    # original's num_trial design); False: one teacher and data set per seed
    stats: StatsConfig = field(default_factory=StatsConfig)  # what the recorder measures

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.stats_every >= 0, "stats_every must be >= 0")
        if self.student.widths is not None:
            _check(len(self.student.widths) == len(self.teacher.widths),
                   "student.widths must have one entry per teacher hidden layer")
        layers = len(self.teacher.widths) + 1
        for i in self.student.frozen:
            _check(-layers <= i < layers,
                   f"student.frozen: layer {i} does not exist (layers 0..{layers - 1} or -1)")
        _check(self.optim.loss != "cross_entropy" or self.teacher.output_dim >= 2,
               "optim.loss=cross_entropy needs teacher.output_dim >= 2 classes")
        if self.data.kind == "theory_suggested":
            _check_theory_suggested(self)

    @property
    def student_widths(self) -> tuple[int, ...]:
        if self.student.widths is not None:
            return tuple(self.student.widths)
        return tuple(w * self.student.multi for w in self.teacher.widths)

    @property
    def steps_per_epoch(self) -> int:
        o = self.optim
        if o.name == "gd":
            return 1
        if o.steps_per_epoch is not None:
            return o.steps_per_epoch
        if self.data.train_size is None:
            return 1000
        return -(-self.data.train_size // o.batch_size)

    @property
    def batch_size(self) -> int:
        if self.optim.name == "gd":
            _check(self.data.train_size is not None, "optim.name=gd needs a finite data.train_size")
            return int(self.data.train_size)  # type: ignore[arg-type]
        return self.optim.batch_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Stable short hash of the full config (for manifests and run identity)."""
        return json_hash(self.to_dict())


def _check_theory_suggested(cfg: RunConfig) -> None:
    t, n = cfg.teacher, cfg.data.train_size
    _check(t.kind == "fc" and len(t.widths) == 1,
           "data.kind=theory_suggested needs a two-layer fc teacher (one hidden layer)")
    _check(n is not None and n >= 3 * t.widths[0],
           f"data.kind=theory_suggested needs data.train_size >= 3 m = {3 * t.widths[0]}, "
           f"got {n}")


# Fields that may differ between the members of one batched run (values only: tensor shapes,
# step counts, precision and data sizes stay equal). Every other field must be equal.
MEMBER_FIELDS = frozenset({
    "teacher.weight_choices", "teacher.bias", "teacher.bias_range", "teacher.bias_value",
    "teacher.normalize", "teacher.fan_out_decay", "teacher.bias_tuning",
    "teacher.standardize_output",
    "student.multi", "student.widths",  # only through the derived student widths (in the key)
    "student.init", "student.init_std", "student.scale_down",
    "data.kind", "data.std", "data.alpha_mean", "data.alpha_width",
    "optim.lr", "optim.lr_schedule",
    "root_seed",
})


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"teacher": {"widths": ...}}`` -> ``{"teacher.widths": ...}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def group_key(cfg: RunConfig) -> tuple:
    """Configs with equal keys can share one batched run: equal in every field except the
    allowlisted :data:`MEMBER_FIELDS`, and with equal student widths."""
    flat = flatten(cfg.to_dict())
    fixed = tuple(sorted((k, v) for k, v in flat.items() if k not in MEMBER_FIELDS))
    # the theory-suggested set has 3 m ceil(N / 3m) samples, not N: its own group
    return fixed, cfg.student_widths, cfg.data.kind == "theory_suggested"
