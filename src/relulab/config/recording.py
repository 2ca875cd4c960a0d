"""The ``stats`` section: what :class:`relulab.training.recorder.StatsRecorder` measures besides the
eval-set correlations (the statistics the original code records)."""

from __future__ import annotations

from dataclasses import dataclass

from relulab.config.checks import _check, _check_types


@dataclass(frozen=True)
class StatsConfig:
    eval_samples: int | None = None  # correlate on the first eval samples only (Luck Matters
    # code: 192 = its first 3 minibatches); None = the whole eval set
    train_samples: int | None = None  # training samples for the train correlations (the
    # original: all); None = the whole training set, 0 = no train correlations
    h: bool = False  # beta / H of every hidden layer (sqrt diag E[beta_kk], diag H) each call
    h_samples: int = 1024  # eval samples the beta / H expectations are taken over
    epoch_grad: bool = False  # gradient norm as the mean over the epoch's steps (the original);
    # off by default: it adds ~45-85 % to a small dispatch-bound step (measured, 2-core CPU)

    def __post_init__(self) -> None:
        _check_types(self)
        _check(self.eval_samples is None or self.eval_samples >= 2,
               f"stats.eval_samples must be >= 2, got {self.eval_samples}")
        _check(self.train_samples is None or self.train_samples == 0
               or self.train_samples >= 2,
               f"stats.train_samples must be 0 (off) or >= 2, got {self.train_samples}")
        _check(self.h_samples >= 2, f"stats.h_samples must be >= 2, got {self.h_samples}")
