"""Luck Matters claim (PAPERS.md §2): on the FC teacher, the lowest layer's rho-bar ends >= 0.99
and above the second layer's; the winners start near the top of the init ranking ("luck")."""

import pytest

from relulab import get_preset, with_overrides
from relulab.training.engine import train
from relulab.training.recorder import StatsRecorder


def _final_by_layer(recorder: StatsRecorder) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in recorder.rows:
        if r["final"]:
            out.setdefault(r["layer"], []).append(r)
    return out


def _check_claim(recorder: StatsRecorder, seeds: int, max_mean_rank: float) -> None:
    final = _final_by_layer(recorder)
    assert sorted(final) == [1, 2, 3, 4] and all(len(v) == seeds for v in final.values())
    for r1, r2 in zip(final[1], final[2], strict=True):
        assert r1["seed"] == r2["seed"]
        assert r1["rho_greedy"] >= 0.99, r1["seed"]
        assert r1["rho_greedy"] > r2["rho_greedy"] + 0.05
        assert r1["rho_hungarian"] >= 0.99  # distinct students, not one shared node
        # luck: the final winners of the lowest layer started near the top of the init order
        # (a random student would have mean rank (n - 1) / 2 = 49.5 of n = 100)
        ranks = r1["winner_rank"]
        assert sum(ranks) / len(ranks) < max_mean_rank


def test_luck_fc_small_reduced():
    """luck-fc-small (teacher 10-15-20-25, student 10x, sigma 10, batch 64) with the README's lr
    0.05 for 3000 steps, 2 seeds. Measured: rho-bar per layer (seed 0 / seed 1) 0.9956 / 0.9969,
    0.770 / 0.772, 0.733 / 0.788, 0.743 / 0.793; layer-1 winner mean rank 2.4 / 2.1. At 2500
    steps the lowest layer is at 0.9925 / 0.9939, so 3000 leaves a margin."""
    cfg = with_overrides(get_preset("luck-fc-small"),
                         {"lr": 0.05, "epochs": 3, "steps_per_epoch": 1000, "stats_every": 0})
    recorder = StatsRecorder()
    train(cfg, [0, 1], callbacks=[recorder])
    _check_claim(recorder, seeds=2, max_mean_rank=10.0)


@pytest.mark.slow
def test_luck_fc_small_full():
    """The preset as in the paper: lr 0.01, 40 epochs of 100k samples, 4 seeds."""
    recorder = StatsRecorder()
    train(get_preset("luck-fc-small"), range(4), callbacks=[recorder])
    _check_claim(recorder, seeds=4, max_mean_rank=10.0)
