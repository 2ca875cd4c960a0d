"""A teacher (and student) from the user: the returned config records what trains; strict
mode refuses a config that says otherwise; students are drawn as for drawn teachers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relulab.config import ConfigError, with_overrides
from relulab.config.presets import get_preset
from relulab.nets import from_modules
from relulab.nets.networks import predict
from relulab.training.engine import train_group
from relulab.training.setup import build, nets_from_user

CFG = with_overrides(get_preset("luck-fc-small"), {
    "widths": "4", "d": "5", "c": "2", "multi": "2", "N": "64", "data.eval_size": "32",
    "batch": "16", "epochs": "1", "stats_every": "0"})


def teacher(width: int = 6, d: int = 5, c: int = 2, seed: int = 0, **kw) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, width, **kw), nn.ReLU(), nn.Linear(width, c, **kw)).eval()


def test_a_6_node_teacher_against_a_config_saying_4_is_recorded():
    cfg, t, s = nets_from_user(CFG, [0, 1, 2], teacher())
    assert CFG.teacher.widths == (4,) and cfg.teacher.widths == (6,)
    assert t.widths == (6,) and s.widths == (12,) == cfg.student_widths
    assert t.num_seeds == s.num_seeds == 3
    for i in (1, 2):  # one module: the same teacher for every seed
        torch.testing.assert_close(t.weights[0][i], t.weights[0][0], rtol=0, atol=0)
    drawn = build(cfg, [0, 1, 2])[1]
    for got, want in zip(s.parameters(), drawn.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)  # the members' own generators


def test_strict_refuses_a_config_that_says_otherwise():
    with pytest.raises(ConfigError) as err:
        nets_from_user(CFG, [0], teacher(), strict=True)
    assert str(err.value).startswith("teacher has widths (6,) but the config says (4,)")
    with pytest.raises(ConfigError, match="^teacher has input_dim 7 but the config says 5"):
        nets_from_user(CFG, [0], teacher(width=4, d=7), strict=True)
    cfg, _, _ = nets_from_user(CFG, [0], teacher(width=4), strict=True)
    assert cfg == CFG


def test_wrong_input_sizes_are_one_line_config_errors():
    with pytest.raises(ConfigError) as err:  # a student that does not fit the teacher
        nets_from_user(CFG, [0], teacher(), student=teacher(width=8, d=7))
    assert str(err.value) == "student has input_dim 7 but the teacher has 5"
    with pytest.raises(ConfigError, match="^module 1: layer shapes") as err:  # S teachers differ
        nets_from_user(CFG, [0, 1], [teacher(), teacher(d=7)])
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="^teacher: 2 nets for 3 seeds"):
        nets_from_user(CFG, [0, 1, 2], [teacher(), teacher(seed=1)])


def test_dtype_follows_the_teacher_unless_strict():
    t64 = teacher(dtype=torch.float64)
    cfg, t, s = nets_from_user(CFG, [0, 1], t64)
    assert cfg.dtype == "float64" and t.weights[0].dtype == s.weights[0].dtype == torch.float64
    with pytest.raises(ConfigError, match="^teacher has dtype float64 but the config says float32"):
        nets_from_user(with_overrides(CFG, {"widths": "6"}), [0], t64, strict=True)
    with pytest.raises(ConfigError, match="float32 or float64 expected"):
        nets_from_user(CFG, [0], teacher(dtype=torch.float16))


def test_a_given_student_is_recorded_and_trains():
    torch.manual_seed(3)
    stud = nn.Sequential(nn.Linear(5, 9), nn.ReLU(), nn.BatchNorm1d(9), nn.Linear(9, 2))
    bn_teacher = nn.Sequential(nn.Linear(5, 6), nn.LeakyReLU(0.1), nn.BatchNorm1d(6),
                               nn.Linear(6, 2)).eval()
    cfg, t, s = nets_from_user(CFG, [0, 1], [bn_teacher, bn_teacher], student=stud)
    assert (cfg.teacher.widths, cfg.teacher.leaky_slope, cfg.teacher.batchnorm) == ((6,), 0.1,
                                                                                     True)
    assert (cfg.student.widths, cfg.student.batchnorm, cfg.student.bn_affine) == ((9,), True,
                                                                                   True)
    torch.testing.assert_close(predict(t, torch.zeros(3, 5))[1],
                               bn_teacher(torch.zeros(3, 5)).detach(), rtol=1e-6, atol=1e-6)
    result = train_group([cfg] * 2, [0, 1], nets=(t, s), max_steps=2)
    assert result.student.widths == (9,) and result.cfg == cfg
    assert not torch.equal(result.student.weights[0], s.weights[0])  # it trained


def test_a_conv_teacher_sets_kind_channels_and_image_size():
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 5 * 5, 2))
    cfg, t, s = nets_from_user(CFG, [0], from_modules(conv))
    assert (cfg.teacher.kind, cfg.teacher.input_channels, cfg.teacher.image_size) == \
        ("conv", 2, 7)
    assert s.kind == "conv" and s.weights[0].shape == (1, 6, 2, 3, 3)
