"""Tian 2017 §5: the critical points of the symmetric dynamics (W* = I_K), read as the paper
does: global minima, the diagonal saddle x⁺, and off-diagonal points that are minima of the 2-D
reduced loss (spurious in the full K·K space only if they stay minima there) (docs/theory.md).

The points come from :func:`relulab.theory.symmetric.critical_points` (Newton, float64), so their
coordinates are exact to ~1e-11; the tolerances below only need to separate the kinds of point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relulab.theory.symmetric import (
    START_GRID,
    START_SPAN,
    CriticalPoint,
    critical_points,
    diagonal_saddle_x,
)

K_VALUES = tuple(range(2, 9))  # default K = students = teachers = d, 2..8
DIAGONAL_TOL = 1e-9  # |x − y| below which a point lies on the diagonal (all students equal)
X_PLUS_TOL = 1e-6  # |x − x⁺| below which a diagonal point is the paper's saddle x⁺
GLOBAL_MIN_LOSS = 1e-12  # J below which a point is a global minimum (J = 0 only at W*, permuted)
IDENTITY_X = 0.5  # global minimum with x above: W* itself (x = 1, y = 0); below: W* permuted


@dataclass(frozen=True)
class SaddleRow:
    point: CriticalPoint
    note: str  # what the point is in the paper's terms ("" when nothing to add)

    @property
    def loss(self) -> float:
        """J, with the round-off at a global minimum shown as 0."""
        return 0.0 if abs(self.point.loss) < GLOBAL_MIN_LOSS else self.point.loss


def interpret(p: CriticalPoint) -> str:
    """The paper's name for a critical point: its x⁺ (or another diagonal point), a global
    minimum (W* or a permutation of it), or a minimum of the 2-D loss that is spurious in the
    full K·K space or only a saddle there."""
    if abs(p.x - p.y) < DIAGONAL_TOL:
        x_plus = diagonal_saddle_x(p.K)
        return f"paper x⁺ = {x_plus:.6f}" if abs(p.x - x_plus) < X_PLUS_TOL else "diagonal"
    if p.loss < GLOBAL_MIN_LOSS:
        return "global min (W*" + (")" if p.x > IDENTITY_X else " permuted)")
    if p.reduced_kind == "minimum":
        return ("spurious local min (2-D and K·K)" if p.kind == "minimum"
                else "min in 2-D only, saddle in K·K")
    return ""


def saddle_table(ks: Sequence[int] = K_VALUES, *, span: float = START_SPAN,
                 grid: int = START_GRID) -> dict[int, list[SaddleRow]]:
    """Per K, every critical point that Newton reaches from a ``grid × grid`` lattice of starts
    on ``[-span, span]²`` (sorted by J), with its reading."""
    return {K: [SaddleRow(p, interpret(p)) for p in critical_points(K, span=span, grid=grid)]
            for K in ks}
