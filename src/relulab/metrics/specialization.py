"""Specialization statistics built on the matching: thresholds, recovery rates, luck ranks.

- Threshold counts: number of teacher nodes whose best (greedy) student correlation exceeds each
  threshold (the original code's "matched at thresholds").
- Recovery (success) rate (Student Specialization, docs/conventions.md): teacher node j is
recovered in
  a seed if some student has eval correlation > ``RECOVERY_THRESHOLD`` (0.95) with it; the rate
  is the mean over seeds. The ``recovery`` view of :mod:`relulab.results.query` is the same rule in
  SQL.
- Winner rank ("luck", Luck Matters): for teacher node j, students sorted by their correlation
  with j at initialization (descending, stable); the rank of the student that is j's best match
  now. Winners that start near the top say initialization luck matters.
"""

from __future__ import annotations

import torch
from torch import Tensor

from relulab.results.schema import RECOVERY_THRESHOLD, THRESHOLDS  # the results layout's constants


def threshold_counts(best_corr: Tensor, thresholds: tuple[float, ...] = THRESHOLDS) -> Tensor:
    """Teacher nodes matched above each threshold: ``(..., m) -> (..., T)`` int64.

    ``best_corr`` is each teacher node's best student correlation (``rho_bar(c).corr``); a
    threshold counts strictly greater values, NaN counts as not matched.
    """
    thr = torch.as_tensor(thresholds, dtype=best_corr.dtype, device=best_corr.device)
    return (best_corr.unsqueeze(-1) > thr).sum(dim=-2)


def recovered(best_corr: Tensor, threshold: float = RECOVERY_THRESHOLD) -> Tensor:
    """Whether each teacher node is recovered: ``(..., m)`` bool (best correlation > threshold)."""
    return best_corr > threshold


def recovery_rate(best_corr: Tensor, threshold: float = RECOVERY_THRESHOLD) -> Tensor:
    """Success rate of each teacher node over seeds: ``(S, m) -> (m,)``.

    Seeds whose correlations are NaN for a node (non-finite activations) are left out of that
    node's mean; a node with no finite seed gets NaN.
    """
    finite = ~torch.isnan(best_corr)
    hits = (recovered(best_corr, threshold) & finite).sum(dim=0).to(torch.float64)
    return hits / finite.sum(dim=0)  # 0/0 -> NaN


def winner_rank(init_corr: Tensor, best_student: Tensor) -> Tensor:
    """Rank at initialization of each teacher node's current best student.

    ``init_corr (..., n, m)``: correlations at init; ``best_student (..., m)``: current best
    student index per teacher node -> ``(..., m)`` int64 0-based rank in the stable descending
    order of ``init_corr[:, j]`` (students with a larger init correlation, plus equal ones with a
    lower index, come first). Index -1 (undefined match) or a NaN init column gives -1.
    """
    valid = (best_student >= 0) & ~torch.isnan(init_corr).any(dim=-2)
    b = best_student.clamp_min(0)
    c_b = init_corr.gather(-2, b.unsqueeze(-2))  # (..., 1, m)
    students = torch.arange(init_corr.shape[-2], device=init_corr.device).unsqueeze(-1)
    ahead = (init_corr > c_b) | ((init_corr == c_b) & (students < b.unsqueeze(-2)))
    rank = ahead.sum(dim=-2)  # (..., m)
    return torch.where(valid, rank, -1)


def rank_histogram(ranks: Tensor, num_students: int) -> Tensor:
    """Distribution over seeds of the winner ranks: ``(S, m) -> (m, n)`` counts, where entry
    ``[j, r]`` is the number of seeds in which teacher node j's winner started at rank r
    (undefined ranks -1 are not counted)."""
    valid = ranks >= 0
    onehot = torch.nn.functional.one_hot(ranks.clamp_min(0), num_students)  # (S, m, n)
    return (onehot * valid.unsqueeze(-1)).sum(dim=0)


def students_above(corr: Tensor, thresholds: tuple[float, ...]) -> Tensor:
    """Per teacher node, the number of students correlated above each threshold (the
    original's per-node threshold counts: how many duplicates over-realization makes):
    ``corr (..., n, m) -> (..., T, m)`` int64, strictly greater, NaN counts as below."""
    thr = torch.as_tensor(thresholds, dtype=corr.dtype, device=corr.device)
    return (corr.unsqueeze(-3) > thr[:, None, None]).sum(dim=-2)
