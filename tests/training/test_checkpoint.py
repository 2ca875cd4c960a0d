"""Checkpoints: a run stopped between two steps and resumed from its saved state ends with
exactly (bit for bit, on the CPU) the weights and rows of an uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch

from relulab.config import with_overrides
from relulab.config.presets import get_preset
from relulab.data import FiniteStream, FreshStream, ReplacementStream
from relulab.rng import generator
from relulab.training import checkpoint
from relulab.training.engine import Interrupted, train
from relulab.training.recorder import StatsRecorder


def _gens(n: int, stream: str = "shuffle") -> list[torch.Generator]:
    return [generator(0, s, stream) for s in range(n)]


@pytest.mark.parametrize("kind", ["finite", "replacement", "fresh"])
def test_stream_state_round_trip(kind):
    x = torch.randn(3, 10, 4)
    y = torch.randn(3, 10, 2)

    def make():
        if kind == "finite":
            return FiniteStream(x, 4, _gens(3), y)
        if kind == "replacement":
            return ReplacementStream(x, 4, _gens(3), y, chunk=3)
        cfgs = [get_preset("demo").data] * 3
        return FreshStream(cfgs, (4,), 4, _gens(3), "cpu", chunk=3)

    a = make()
    for _ in range(5):
        a.next()
    state = {k: v.clone() for k, v in a.state_dict().items()}
    expected = [a.next() for _ in range(7)]  # crosses pass / chunk boundaries
    b = make()
    b.next()  # a different position: load must override it
    b.load_state_dict(state)
    for (xa, ya), (xb, yb) in zip(expected, [b.next() for _ in range(7)], strict=True):
        assert torch.equal(xa, xb)
        assert (ya is None and yb is None) or torch.equal(ya, yb)


def _cfg(name: str, **extra: str):
    return with_overrides(get_preset(name), {"optim.epochs": "3", "steps_per_epoch": "7",
                                             **extra})


def _run_interrupted(cfg, seeds, stop_after: int, tmp_path):
    """Train, stop after ``stop_after`` steps, save the checkpoint to disk, reload it and
    finish; returns (result, recorder) of the resumed run."""
    recorder = StatsRecorder()
    path = tmp_path / "ck.safetensors"

    def save(state):
        tensors, meta = recorder.state_dict()
        state.put("cb", tensors)
        state.meta["recorder"] = meta
        checkpoint.save(path, state, {"seeds": seeds})

    polls = [0]

    def stop():
        polls[0] += 1
        return polls[0] > stop_after

    with pytest.raises(Interrupted) as info:
        train(cfg, seeds, callbacks=[recorder], checkpoint=save, stop=stop)
    assert info.value.state.step == stop_after
    state, saved = checkpoint.load(path)
    assert saved == {"seeds": seeds} and state.step == stop_after
    resumed = StatsRecorder()
    resumed.load_state_dict(state.sub("cb"), state.meta["recorder"])
    return train(cfg, seeds, callbacks=[resumed], resume=state), resumed


@pytest.mark.parametrize("name,extra,stop_after", [
    ("demo", {}, 10),  # replacement sampling, float64, mid-epoch
    ("demo", {"data.sampling": "pass", "dtype": "float32"}, 7),  # at an epoch boundary
    ("demo", {"data.train_size": "none"}, 16),  # fresh samples
    ("luck-fc", {"optim.name": "adam"}, 9),  # deep student, Adam state
    ("demo", {"optim.momentum": "0.9", "optim.lr": "1e6"}, 11),  # diverged members frozen
    ("demo", {"data.regenerate": "true", "data.sampling": "pass"}, 17),  # a new set per epoch
    ("demo", {"stats.epoch_grad": "true", "data.kind": "theory_suggested", "m": "3",
              "N": "60", "stats_every": "2"}, 10),  # running gradient norms, augmented set
    ("demo", {"student.batchnorm": "true", "student.bn_affine": "true",
              "student.normalize": "fan_in"}, 12),  # BN statistics and affine parameters
])
def test_resume_is_bit_identical(name, extra, stop_after, tmp_path):
    cfg = _cfg(name, **extra)
    seeds = [0, 1, 2]
    recorder = StatsRecorder()
    full = train(cfg, seeds, callbacks=[recorder])
    res, resumed = _run_interrupted(cfg, seeds, stop_after, tmp_path)
    for p, q in zip(full.student.parameters(), res.student.parameters(), strict=True):
        assert torch.equal(p, q)
    assert json.dumps(full.rows) == json.dumps(res.rows)
    assert json.dumps(recorder.rows) == json.dumps(resumed.rows)
    assert torch.equal(full.diverged, res.diverged)
    assert res.steps == full.steps


def test_checkpoint_that_does_not_fit_is_refused(tmp_path):
    cfg = _cfg("demo")
    states = []
    train(cfg, [0, 1], checkpoint=states.append)
    other = with_overrides(cfg, {"multi": "3"})
    with pytest.raises(checkpoint.CheckpointError, match="does not fit"):
        train(other, [0, 1], resume=states[0])
    (tmp_path / "x.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="unreadable checkpoint"):
        checkpoint.load(tmp_path / "x.safetensors")


def test_checkpoint_after_every_statistics_point():
    cfg = _cfg("demo", stats_every="2")
    steps = []
    train(cfg, [0], checkpoint=lambda st: steps.append((st.epoch, st.step)))
    assert steps == [(2, 14), (3, 21)]  # every 2 epochs and at the end
