import math

import pytest
import torch

from relulab.metrics import (
    THRESHOLDS,
    rank_histogram,
    recovered,
    recovery_rate,
    threshold_counts,
    winner_rank,
)


def test_threshold_counts_hand_case():
    best = torch.tensor([[0.4, 0.5, 0.85, 0.95, 0.999],
                         [math.nan, 0.91, 0.96, 0.99, 0.2]])
    counts = threshold_counts(best)  # thresholds 0.5, 0.8, 0.9, 0.95, 0.99: strictly above
    assert THRESHOLDS == (0.5, 0.8, 0.9, 0.95, 0.99)
    assert counts.tolist() == [[3, 3, 2, 1, 1], [3, 3, 3, 2, 0]]
    assert threshold_counts(best, (0.0,)).tolist() == [[5], [4]]


def test_recovery_rate_over_seeds():
    best = torch.tensor([[0.96, 0.5, 0.99],
                         [0.94, 0.97, math.nan],
                         [0.951, 0.2, 0.96],
                         [0.99, 0.1, math.nan]], dtype=torch.float64)  # (S=4, m=3)
    assert recovered(best).tolist()[0] == [True, False, True]
    rate = recovery_rate(best)
    # node 2 has two finite seeds (both recovered); NaN seeds are left out
    torch.testing.assert_close(rate, torch.tensor([0.75, 0.25, 1.0], dtype=torch.float64))
    torch.testing.assert_close(recovery_rate(best, threshold=0.955),
                               torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64))
    assert torch.isnan(recovery_rate(torch.full((2, 1), math.nan))).all()


def test_winner_rank_hand_case_with_ties():
    # init correlations, students x teacher nodes
    init = torch.tensor([[0.9, 0.1],
                         [0.3, 0.5],
                         [0.3, 0.5],
                         [0.8, 0.0]])
    # teacher 0 order: s0 (0.9), s3 (0.8), s1 (0.3), s2 (0.3; tie, higher index after)
    # teacher 1 order: s1 (0.5), s2 (0.5), s0 (0.1), s3 (0.0)
    best = torch.tensor([[2, 3], [0, 2], [3, -1]])  # three "seeds" of final best students
    ranks = winner_rank(init.expand(3, 4, 2), best)
    assert ranks.tolist() == [[3, 3], [0, 1], [1, -1]]


def test_winner_rank_at_init_is_zero_for_the_best_match(generator):
    init = torch.rand(5, 30, 4, generator=generator)
    best = init.argmax(dim=-2)
    assert (winner_rank(init, best) == 0).all()
    worst = init.argmin(dim=-2)
    assert (winner_rank(init, worst) == 29).all()


def test_winner_rank_nan_column_is_minus_one():
    init = torch.tensor([[0.1, math.nan], [0.2, 0.3]])
    assert winner_rank(init, torch.tensor([0, 1])).tolist() == [1, -1]


def test_rank_histogram_counts_seeds():
    ranks = torch.tensor([[0, 2], [0, -1], [1, 2]])  # (S=3, m=2)
    hist = rank_histogram(ranks, num_students=4)
    assert hist.tolist() == [[2, 1, 0, 0], [0, 0, 2, 0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_counts_are_monotone_in_the_threshold(generator, dtype):
    best = torch.rand(6, 20, generator=generator, dtype=dtype)
    counts = threshold_counts(best)
    assert counts.dtype == torch.int64 and counts.shape == (6, 5)
    assert (counts[:, :-1] >= counts[:, 1:]).all()
