import pytest
import torch

from relulab.experiments import rule_check as R
from relulab.theory.recursive import random_net, rule_errors


@pytest.fixture(scope="module")
def small():
    """Depths 1–2, 256 samples: cheap, and enough for the matrix form to be visibly off below
    the top layer (0.2–0.9 relative error at 8192 samples; it is not a sampling effect)."""
    cfg = R.RuleCheckConfig(depths=(1, 2), samples=256)
    return cfg, R.rule_check(cfg, seed=0)


def test_theorem1_rule_is_exact_at_every_layer(small):
    cfg, res = small
    assert [r.teacher_widths for r in res.theorem1] == [(6,), (6, 7)]
    assert [r.student_widths for r in res.theorem1] == [(12,), (12, 14)]
    for depth, r in zip(cfg.depths, res.theorem1, strict=True):
        assert len(r.errors) == depth + 2  # input, hidden layers, output
        assert max(r.errors) < 1e-12  # float64 round-off


def test_matrix_form_is_exact_only_at_the_output_layer(small):
    cfg, res = small
    rows = res.matrix_form
    # student 20-30-40-50 (multi 2 × 10-15-20-25), d = 20, c = 30; augmented: one more column
    assert [r.shape for r in rows] == [(20, 21), (30, 21), (40, 31), (50, 41), (30, 51)]
    assert rows[-1].relative_error < 1e-12
    assert all(r.relative_error > 1e-2 for r in rows[:-1])


def test_same_seed_same_numbers(small):
    cfg, res = small
    assert R.rule_check(cfg, seed=0) == res
    assert R.rule_check(cfg, seed=1).matrix_form != res.matrix_form


def test_theorem1_nets_follow_the_setup():
    """Teacher widths 6, 7 and a 2× wider student, two nets each, 64 inputs of dim 8, drawn in
    that order from one generator: the same draws by hand give the same errors."""
    mine, by_hand = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    (row,) = R.theorem1_rows(R.RuleCheckConfig(depths=(2,)), mine)
    teacher = random_net((6, 7), 8, 5, 2, generator=by_hand)
    student = random_net((12, 14), 8, 5, 2, generator=by_hand)
    x = torch.randn(2, 64, 8, generator=by_hand, dtype=torch.float64)
    assert row.errors == rule_errors(teacher, student, x)
