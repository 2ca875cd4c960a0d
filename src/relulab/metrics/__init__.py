"""Specialization metrics (Luck Matters, Student Specialization): per layer, seed axis first.

Correlations of student with teacher nodes (full or streamed), greedy / Hungarian matching and
rho-bar, threshold counts, recovery rates, winner ("luck") ranks, fan-out and gradient norms.
"""

from relulab.metrics.beta import BetaDiag, beta_diag
from relulab.metrics.correlations import (
    CorrelationAccumulator,
    LayerCorrelator,
    TeacherChunk,
    correlations,
    first_sample,
    layer_correlations,
    prepare_teacher,
)
from relulab.metrics.matching import (
    Match,
    Matching,
    greedy_match,
    hungarian_match,
    match,
    rho_bar,
    student_best_corr,
)
from relulab.metrics.norms import (
    FanOutSplit,
    fan_out_norms,
    grad_norms,
    matched_mask,
    split_fan_out,
)
from relulab.metrics.specialization import (
    RECOVERY_THRESHOLD,
    THRESHOLDS,
    rank_histogram,
    recovered,
    recovery_rate,
    students_above,
    threshold_counts,
    winner_rank,
)

__all__ = [
    "RECOVERY_THRESHOLD", "THRESHOLDS", "CorrelationAccumulator", "FanOutSplit",
    "LayerCorrelator", "Match", "TeacherChunk", "first_sample", "prepare_teacher",
    "Matching", "correlations", "fan_out_norms", "grad_norms", "greedy_match",
    "hungarian_match", "layer_correlations", "match", "matched_mask", "rank_histogram",
    "recovered", "recovery_rate", "rho_bar", "split_fan_out", "student_best_corr",
    "students_above", "BetaDiag", "beta_diag",
    "threshold_counts", "winner_rank",
]
