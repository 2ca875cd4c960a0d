import pytest

from relulab.config import (
    ConfigError,
    RunConfig,
    config_from_dict,
    parse_set_args,
    parse_value,
    with_overrides,
)
from relulab.config.presets import PRESETS, get_preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json_dict(name):
    cfg = get_preset(name)
    assert config_from_dict(cfg.to_dict()) == cfg
    assert config_from_dict(cfg.to_dict()).hash() == cfg.hash()


def test_override_parsing_by_field_type():
    cfg = with_overrides(get_preset("spec-multilayer"),
                         {"m": "5,6,7,8", "optim.lr_schedule": "0:0.3,10:0.05", "N": "none",
                          "student.batchnorm": "yes", "p": "1.5"})
    assert cfg.teacher.widths == (5, 6, 7, 8)
    assert cfg.optim.lr_schedule == ((0, 0.3), (10, 0.05))
    assert cfg.data.train_size is None and cfg.student.batchnorm is True
    assert cfg.teacher.fan_out_decay == 1.5
    assert cfg.student_widths == (50, 60, 70, 80)  # spec-multilayer: multi 10
    assert parse_value("optim.name", "adam") == "adam"


@pytest.mark.parametrize("over,msg", [
    ({"multi": 2.5}, "StudentConfig.multi: 2.5 is not of type int"),
    ({"multi": True}, "is not of type int"),
    ({"optim.name": "rmsprop"}, "is not one of"),
    ({"p": "-1"}, "fan_out_decay (p) must be >= 0"),
    ({"student.widths": "10,20"}, "one entry per teacher hidden layer"),
    ({"teacher.weight_choices": "0,0"}, "all zero"),
    ({"optim.lr_schedule": "5"}, "is not epoch:lr"),
    ({"m": ""}, "empty list"),
])
def test_bad_overrides_raise_config_error(over, msg):
    with pytest.raises(ConfigError, match=None) as err:
        with_overrides(get_preset("demo"), over)
    assert msg in str(err.value)


def test_set_args_must_be_key_value_with_known_key():
    assert parse_set_args(["lr=0.1", "multi=3"]) == {"lr": "0.1", "multi": "3"}
    with pytest.raises(ConfigError, match="not key=value"):
        parse_set_args(["=3"])
    with pytest.raises(ConfigError, match="unknown config key 'nope'"):
        parse_set_args(["nope=3"])


def test_direct_construction_is_validated():
    with pytest.raises(ConfigError, match="stats_every"):
        RunConfig(stats_every=-1)


def test_group_key_is_an_allowlist_of_member_fields():
    from relulab.config import group_key

    base = get_preset("spec-two-layer")
    values_only = with_overrides(base, {"p": 2.0, "lr": 0.05, "init_std": 0.1, "sigma": 2.0,
                                        "seed": 3, "teacher.bias_tuning": True})
    assert group_key(values_only) == group_key(base)
    explicit = with_overrides(base, {"student.widths": "50"})  # = multi 5 x m 10
    assert group_key(explicit) == group_key(base)
    for over in ({"batch": 8}, {"loss": "mse"}, {"dtype": "float32"}, {"N": 100},
                 {"multi": 2}, {"sampling": "pass"}, {"epochs": 3}, {"stats_every": 2},
                 {"shared_teacher": True}, {"student.batchnorm": True}):
        assert group_key(with_overrides(base, over)) != group_key(base), over
