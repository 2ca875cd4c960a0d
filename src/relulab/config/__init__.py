"""Run configuration: frozen, validated dataclasses (:mod:`.fields`) and ``key=value``
overrides (:mod:`.overrides`).

Glossary used across relulab: ``S`` seeds/configs, ``N`` samples, ``d`` input dim,
``m`` teacher width, ``n`` student width, ``L`` depth, ``c`` outputs.
"""

from relulab.config.fields import (
    MEMBER_FIELDS,
    ConfigError,
    DataConfig,
    OptimConfig,
    RunConfig,
    StatsConfig,
    StudentConfig,
    TeacherConfig,
    flatten,
    group_key,
)
from relulab.config.overrides import (
    ALIASES,
    config_from_dict,
    parse_set_args,
    parse_value,
    resolve_key,
    with_overrides,
)

__all__ = ["ALIASES", "MEMBER_FIELDS", "ConfigError", "DataConfig", "OptimConfig", "RunConfig",
           "StatsConfig", "StudentConfig", "TeacherConfig", "config_from_dict", "flatten",
           "group_key", "parse_set_args", "parse_value", "resolve_key", "with_overrides"]
