import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from relulab.metrics import correlations, greedy_match, hungarian_match, rho_bar, student_best_corr

# rows = students, columns = teacher nodes
CORR = torch.tensor([[0.9, 0.8],
                     [0.1, 0.7],
                     [0.2, 0.3]], dtype=torch.float64)


def test_greedy_hand_case_shares_a_student():
    m = rho_bar(CORR, "greedy")
    # teacher 0 -> student 0 (0.9), teacher 1 -> student 0 (0.8): one student for both
    assert m.student.tolist() == [0, 0]
    torch.testing.assert_close(m.corr, torch.tensor([0.9, 0.8], dtype=torch.float64))
    assert float(m.rho) == pytest.approx(0.85, abs=1e-15)


def test_hungarian_hand_case_is_one_to_one():
    m = rho_bar(CORR, "hungarian")
    # (0->t0, 1->t1) sums 1.6, the best of the 6 assignments; (0->t1, 2->t0) only 1.0
    assert m.student.tolist() == [0, 1]
    torch.testing.assert_close(m.corr, torch.tensor([0.9, 0.7], dtype=torch.float64))
    assert float(m.rho) == pytest.approx(0.8, abs=1e-15)


def test_hungarian_gives_up_the_greedy_best_when_the_total_is_larger():
    corr = torch.tensor([[0.9, 0.85], [0.8, 0.1]], dtype=torch.float64)
    # greedy: both teachers pick student 0 (0.875); hungarian: 0->t1, 1->t0 (0.825) beats
    # 0->t0, 1->t1 (0.5)
    assert rho_bar(corr, "greedy").student.tolist() == [0, 0]
    m = rho_bar(corr, "hungarian")
    assert m.student.tolist() == [1, 0]
    assert float(m.rho) == pytest.approx(0.825, abs=1e-15)


def test_ties_go_to_the_lowest_student_index():
    corr = torch.tensor([[0.1, 0.5], [0.5, 0.5], [0.5, 0.2]])
    m = greedy_match(corr)
    assert m.student.tolist() == [1, 0]
    assert float(m.rho) == pytest.approx(0.5)


def test_batched_leading_axes_and_l_shape_x():
    corr = torch.stack([CORR, CORR.flip(0)])  # (2, 3, 2)
    g = rho_bar(corr)
    assert g.rho.shape == (2,) and g.student.tolist() == [[0, 0], [2, 2]]
    h = rho_bar(corr.unsqueeze(0), "hungarian")
    assert h.rho.shape == (1, 2) and h.student.tolist() == [[[0, 1], [2, 1]]]
    assert student_best_corr(CORR).tolist() == [0.9, 0.7, 0.3]


def test_nan_matrices_give_nan_and_index_minus_one():
    corr = CORR.clone()
    corr[1, 1] = torch.nan
    g = greedy_match(corr)
    assert g.student.tolist() == [0, -1] and torch.isnan(g.rho)
    assert float(g.corr[0]) == pytest.approx(0.9)
    h = hungarian_match(torch.stack([corr, CORR]))
    assert h.student.tolist() == [[-1, -1], [0, 1]]
    assert torch.isnan(h.rho[0]) and float(h.rho[1]) == pytest.approx(0.8)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n >= m"):
        rho_bar(CORR.T, "hungarian")
    with pytest.raises(ValueError, match="matching must be"):
        rho_bar(CORR, "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(\.\.\., n, m\)"):
        rho_bar(torch.zeros(3))


def test_dtype_and_device_preserved():
    for dtype in (torch.float32, torch.float64):
        for kind in ("greedy", "hungarian"):
            m = rho_bar(CORR.to(dtype), kind)
            assert m.rho.dtype == dtype and m.student.dtype == torch.int64


# ---- properties ---------------------------------------------------------------------------

sizes = st.tuples(st.integers(1, 5), st.integers(0, 6), st.integers(0, 2**31 - 1))  # m, extra, seed


def _random_corr(n: int, m: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, n, m, generator=g, dtype=torch.float64) * 2 - 1


@settings(max_examples=60, deadline=None)
@given(sizes)
def test_permuting_students_leaves_rho_unchanged(size):
    m, extra, seed = size
    corr = _random_corr(m + extra, m, seed)
    perm = torch.randperm(m + extra, generator=torch.Generator().manual_seed(seed + 1))
    for kind in ("greedy", "hungarian"):
        a, b = rho_bar(corr, kind), rho_bar(corr[:, perm], kind)
        torch.testing.assert_close(a.rho, b.rho, atol=1e-12, rtol=0)
        # the matched student is the same node, under its new index (continuous values: no ties)
        assert torch.equal(perm[b.student], a.student)


@settings(max_examples=60, deadline=None)
@given(sizes)
def test_hungarian_is_one_to_one_below_greedy_and_optimal(size):
    m, extra, seed = size
    n = m + extra
    corr = _random_corr(n, m, seed)
    g, h = rho_bar(corr, "greedy"), rho_bar(corr, "hungarian")
    assert (h.rho <= g.rho + 1e-12).all()
    assert (h.corr <= g.corr + 1e-12).all()
    for k in range(2):
        assert len(set(h.student[k].tolist())) == m  # distinct students
        if n <= 6:  # brute force over all injective assignments
            best = max(sum(float(corr[k, p[j], j]) for j in range(m))
                       for p in itertools.permutations(range(n), m)) / m
            assert float(h.rho[k]) == pytest.approx(best, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 8), st.integers(0, 2**31 - 1))
def test_student_containing_the_teacher_has_rho_one(m, extra, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=g, dtype=torch.float64)
    teacher = torch.relu(x @ torch.randn(8, m, generator=g, dtype=torch.float64) + 0.5)
    scales = torch.rand(m, generator=g, dtype=torch.float64) * 10 + 0.1  # positive
    noise = torch.relu(torch.randn(64, extra, generator=g, dtype=torch.float64))
    student = torch.cat([teacher * scales + 3.0, noise], dim=1)  # scaled, shifted, extras
    perm = torch.randperm(m + extra, generator=g)
    student = student[:, perm]
    corr = correlations(student, teacher)
    where = torch.argsort(perm)[:m]  # new index of the student copy of teacher node j
    for kind in ("greedy", "hungarian"):
        r = rho_bar(corr, kind)
        # Pearson is 1 for a positive affine copy, less 2e-10 / |column| from the norms' +1e-10
        assert float(r.rho) == pytest.approx(1.0, abs=1e-8)
        assert torch.equal(r.student, where)
