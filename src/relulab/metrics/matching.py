"""Matching teacher nodes to student nodes, and the specialization score rho-bar.

Both matchings read one correlation matrix ``corr (..., n, m)`` (student rows, teacher
columns):

- ``greedy`` (Luck Matters, the papers' metric): teacher node j gets the student with the
  largest correlation, ``max_i corr[i, j]``; several teacher nodes may share one student. Ties go
  to the lowest student index.
- ``hungarian``: one-to-one, each teacher node gets a distinct student maximizing the summed
  correlation (``scipy.optimize.linear_sum_assignment``); needs ``n >= m``. Per teacher node it
  is never above the greedy maximum, so ``rho_hungarian <= rho_greedy``.

.. math:: \\bar\\rho = \\frac{1}{m} \\sum_{j} \\mathrm{corr}[\\pi(j), j]

A matrix with a NaN entry (non-finite activations) gives NaN correlations and index -1 for the
affected teacher nodes (greedy) or for all of them (hungarian).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

Matching = Literal["greedy", "hungarian"]


class Match(NamedTuple):
    """A matching of teacher nodes to student nodes (leading axes as ``corr``'s)."""

    rho: Tensor  # (...) mean over teacher nodes of the matched correlation
    corr: Tensor  # (..., m) matched correlation of each teacher node
    student: Tensor  # (..., m) int64 index of the matched student node (-1 where undefined)


def greedy_match(corr: Tensor) -> Match:
    """Each teacher node's best student: ``max`` over the student axis of ``(..., n, m)``."""
    best, index = corr.max(dim=-2)  # (..., m); first maximal index on ties
    nan = torch.isnan(corr).any(dim=-2)
    best = torch.where(nan, torch.nan, best)
    index = torch.where(nan, -1, index)
    return Match(best.mean(dim=-1), best, index)


def hungarian_match(corr: Tensor) -> Match:
    """One-to-one matching maximizing the total correlation, per leading index.

    scipy solves each ``(n, m)`` problem on the CPU; the loop runs over the leading (seed)
    entries only. The matrices are moved to the CPU once.
    """
    n, m = corr.shape[-2:]
    if n < m:
        raise ValueError(f"hungarian matching needs n >= m student nodes, got n={n} < m={m}")
    flat = corr.detach().reshape(-1, n, m).to("cpu", torch.float64).numpy()
    index = np.full((flat.shape[0], m), -1, dtype=np.int64)
    for k, mat in enumerate(flat):
        if np.isfinite(mat).all():
            rows, cols = linear_sum_assignment(mat, maximize=True)
            index[k, cols] = rows
    student = torch.from_numpy(index).reshape(corr.shape[:-2] + (m,)).to(corr.device)
    matched = corr.gather(-2, student.clamp_min(0).unsqueeze(-2)).squeeze(-2)  # (..., m)
    matched = torch.where(student < 0, torch.nan, matched)
    return Match(matched.mean(dim=-1), matched, student)


def match(corr: Tensor, matching: Matching = "greedy") -> Match:
    """Match teacher nodes to student nodes with ``matching`` ("greedy" or "hungarian")."""
    if corr.dim() < 2:
        raise ValueError(f"corr must be (..., n, m), got shape {tuple(corr.shape)}")
    if matching == "greedy":
        return greedy_match(corr)
    if matching == "hungarian":
        return hungarian_match(corr)
    raise ValueError(f"matching must be 'greedy' or 'hungarian', got {matching!r}")


def rho_bar(corr: Tensor, matching: Matching = "greedy") -> Match:
    """rho-bar of ``corr (..., n, m)``: ``Match(rho (...), corr (..., m), student (..., m))``.

    ``rho_bar(c).rho`` is the score; ``.student`` the matched student index per teacher node.
    """
    return match(corr, matching)


def student_best_corr(corr: Tensor) -> Tensor:
    """Each student node's max correlation over teacher nodes: ``(..., n, m) -> (..., n)``
    (the x-value of the "L-shape" plot)."""
    return corr.max(dim=-1).values
