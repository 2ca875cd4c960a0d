import dataclasses

import pytest

from relulab.experiments import saddles as S
from relulab.theory.symmetric import CriticalPoint, diagonal_saddle_x


def _point(x: float, y: float, loss: float = 0.1, kind: str = "saddle",
           reduced_kind: str = "saddle", K: int = 3) -> CriticalPoint:  # noqa: N803
    """A critical point with the given signatures (only what interpret reads is meaningful)."""
    signature = {"minimum": (0, 0, 2), "saddle": (1, 0, 1)}
    full = {"minimum": (0, 0, K * K), "saddle": (1, 0, K * K - 1)}
    return CriticalPoint(K, x, y, loss, 0.0, signature[reduced_kind], full[kind], 0.0, ())


def test_interpret_reads_each_kind_of_point():
    x_plus = diagonal_saddle_x(3)
    assert S.interpret(_point(x_plus, x_plus)) == f"paper x⁺ = {x_plus:.6f}"
    assert S.interpret(_point(x_plus + 2 * S.X_PLUS_TOL, x_plus + 2 * S.X_PLUS_TOL)) == "diagonal"
    assert S.interpret(_point(-0.05, -0.05 + S.DIAGONAL_TOL / 2)) == "diagonal"
    assert S.interpret(_point(0.3, 0.3 + 1e-6)) == ""  # off the diagonal: a Newton point is exact
    assert S.interpret(_point(1.0, 0.0, loss=0.0, kind="minimum")) == "global min (W*)"
    assert S.interpret(_point(0.0, 1.0, loss=0.0, kind="minimum")) == "global min (W* permuted)"
    assert S.interpret(_point(-0.66, 0.33, kind="minimum", reduced_kind="minimum")) == (
        "spurious local min (2-D and K·K)")
    assert S.interpret(_point(-0.32, 0.66, reduced_kind="minimum")) == (
        "min in 2-D only, saddle in K·K")
    assert S.interpret(_point(0.3, -0.2)) == ""  # a saddle in both spaces: nothing to add


@pytest.mark.parametrize("loss,shown", [(1e-13, 0.0), (-1e-13, 0.0), (0.0885, 0.0885)])
def test_row_shows_round_off_at_a_global_minimum_as_zero(loss, shown):
    assert S.SaddleRow(_point(1.0, 0.0, loss=loss), "").loss == shown


def test_saddle_table_finds_the_papers_points():
    """K = 2, 3 on a coarse 7 × 7 grid of starts: per K the global minimum W*, the paper's x⁺
    (printed 0.534155, 0.382024) and, for K = 3, the off-diagonal point that is a minimum of the
    2-D loss but a saddle in K·K space."""
    table = S.saddle_table([2, 3], grid=7)
    assert sorted(table) == [2, 3]
    for K, paper in ((2, "0.534155"), (3, "0.382024")):  # noqa: N806
        notes = [r.note for r in table[K]]
        assert "global min (W*)" in notes and f"paper x⁺ = {paper}" in notes
        assert [r.point.loss for r in table[K]] == sorted(r.point.loss for r in table[K])
    assert "min in 2-D only, saddle in K·K" in [r.note for r in table[3]]
    assert all(r == dataclasses.replace(r, note=S.interpret(r.point)) for r in table[3])
