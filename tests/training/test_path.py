"""The one decision of which update a step takes, and the optimizer state on every path."""

from __future__ import annotations

import pytest
import torch

from relulab.config import with_overrides
from relulab.config.presets import get_preset
from relulab.training import path
from relulab.training.engine import train
from relulab.training.setup import build


def small(**overrides):
    base = {"data.train_size": 256, "data.eval_size": 128, "optim.steps_per_epoch": 5,
            "optim.epochs": 2, "multi": 2}
    return with_overrides(get_preset("luck-fc-small"), {**base, **overrides})


@pytest.mark.parametrize(("overrides", "has_rules", "expected"), [
    ({}, False, "working"),
    ({}, True, "in_place"),
    ({"student.leaky_slope": 0.1}, False, "in_place"),
    ({"optim.name": "adam"}, False, "autograd"),
    ({"optim.momentum": 0.9}, False, "autograd"),
    ({"optim.weight_decay": 1e-4}, False, "autograd"),
    ({"optim.loss": "cross_entropy"}, False, "autograd"),
    ({"teacher.batchnorm": True, "student.batchnorm": True}, False, "autograd"),
])
def test_choose_names_the_update_of_each_kind_of_run(overrides, has_rules, expected):
    cfg = small(**overrides)
    _, student, _ = build(cfg, [0])
    chosen = path.choose(student, cfg, has_rules)
    assert chosen.fused == expected
    assert (chosen.reason == "") == (expected == "working")
    assert chosen.now(all_alive=False) == "autograd"
    assert chosen.now(all_alive=True) == expected


def test_the_optimizer_counts_the_fused_steps(monkeypatch):
    from relulab.training import engine

    seen = []
    original = engine.Run.state_dict

    def spy(run):
        seen.append((run.path.fused, run.opt_state.inner.count, run.step))
        return original(run)

    monkeypatch.setattr(engine.Run, "state_dict", spy)
    train(small(), [0, 1], checkpoint=lambda state: None)
    assert seen and all(kind == "working" and count == step for kind, count, step in seen)


def test_a_resumed_run_equals_an_uninterrupted_one():
    cfg = small(**{"optim.epochs": 3})
    full = train(cfg, [0, 1])
    states, calls = [], iter(range(10_000))
    with pytest.raises(engine_interrupted()):
        train(cfg, [0, 1], checkpoint=states.append, stop=lambda: next(calls) >= 7)
    resumed = train(cfg, [0, 1], resume=states[-1])
    assert states[-1].step == 7
    for a, b in zip(full.student.parameters(), resumed.student.parameters(), strict=True):
        assert torch.equal(a, b)
    assert full.rows == resumed.rows


def engine_interrupted():
    from relulab.training.engine import Interrupted

    return Interrupted
