"""Weights files: every tensor a module needs plus the metadata that rebuilds the nets; the
files (run weights, sweep batch weights, checkpoints) are readable by others (0644 under
umask 022)."""

from __future__ import annotations

import json
import os
import stat

import pyarrow as pa
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from relulab.cli.runs import save_run
from relulab.config import ConfigError, with_overrides
from relulab.config.presets import get_preset
from relulab.nets import net_from_weights
from relulab.nets.networks import input_shape, predict
from relulab.nets.weights import net_tensors, weights_metadata
from relulab.results.store import SweepStore
from relulab.training import checkpoint
from relulab.training.engine import train

TINY = {"multi": "2", "widths": "3,4", "d": "5", "c": "2", "N": "64", "data.eval_size": "32",
        "batch": "16", "epochs": "2", "stats_every": "0"}


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    return load_file(str(path)), meta


@pytest.fixture(scope="module")
def bn_run():
    """Two seeds of a run whose teacher and student have BatchNorm (student: affine, before
    the ReLU) after training, so running statistics and affine parameters are non-trivial."""
    cfg = with_overrides(get_preset("luck-fc-small"), {
        **TINY, "teacher.batchnorm": "true", "student.batchnorm": "true",
        "student.bn_affine": "true", "student.bn_before_relu": "true",
        "student.leaky_slope": "0.1"})
    return train(cfg, [3, 4])


def test_a_bn_runs_reloaded_nets_predict_as_the_trained_ones(bn_run, tmp_path, umask_022):
    save_run(bn_run, tmp_path / "run", [])
    (path,) = (tmp_path / "run" / "weights").glob("batch-*.safetensors")
    assert mode(path) == 0o644
    tensors, meta = read(path)
    assert {"student.bn_mean.0", "student.bn_var.1", "student.bn_weight.0", "student.bn_bias.1",
            "teacher.bn_mean.0"} <= set(tensors)
    assert "teacher.bn_weight.0" not in tensors  # the teacher's BN is not affine
    desc = json.loads(meta["relulab"])
    assert desc["config_hash"] == bn_run.cfg.hash() and desc["seeds"] == [3, 4]
    assert desc["student"]["layers"] == ["linear", "linear", "linear"]
    assert (desc["student"]["bn_before_relu"], desc["student"]["leaky_slope"]) == (True, 0.1)
    trained = bn_run.student
    assert not torch.equal(trained.bn_weight[0], torch.ones_like(trained.bn_weight[0]))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, *input_shape(bn_run.cfg.teacher), generator=g)
    for prefix, net in (("student", trained), ("teacher", bn_run.teacher)):
        loaded = net_from_weights(tensors, meta, prefix)
        torch.testing.assert_close(predict(loaded, x), predict(net, x), rtol=0, atol=0)


def test_missing_tensors_and_metadata_are_config_errors(bn_run):
    tensors = net_tensors(bn_run.student, "student")
    meta = weights_metadata(bn_run.teacher, bn_run.student)
    del tensors["student.bn_weight.1"]
    with pytest.raises(ConfigError, match="lacks 'student.bn_weight.1'"):
        net_from_weights(tensors, meta)
    with pytest.raises(ConfigError, match="without relulab metadata"):
        net_from_weights(tensors, {})


def test_sweep_batch_weights_carry_the_metadata_and_mode(bn_run, tmp_path, umask_022):
    from relulab.sweeps.executors import final_weights, final_weights_metadata

    store = SweepStore(tmp_path / "sweep")
    table = pa.table({"x": [1]})
    members = [{"cell": "a", "seed": 3, "config_hash": "h"}]
    store.write_batch("b0", table, members, weights=final_weights(bn_run),
                      weights_meta=final_weights_metadata(bn_run))
    path = store.weights_dir / "batch-b0.safetensors"
    assert mode(path) == 0o644
    tensors, meta = read(path)
    assert json.loads(meta["members"]) == members
    loaded = net_from_weights(tensors, meta)
    x = torch.randn(8, 5)
    torch.testing.assert_close(predict(loaded, x), predict(bn_run.student, x), rtol=0, atol=0)


def test_checkpoints_are_readable_by_others(tmp_path, umask_022):
    path = tmp_path / "ck.safetensors"
    checkpoint.save(path, checkpoint.TrainState(1, 0, 1, {"loop.x": torch.zeros(2)}), {})
    assert mode(path) == 0o644
    assert checkpoint.load(path)[0].step == 1
