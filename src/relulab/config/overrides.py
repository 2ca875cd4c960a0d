"""``key=value`` overrides: "student.multi=5", "p=1.5", "widths=50,75" (no eval: values are
parsed by the type of the config field they set), and configs from JSON dicts."""

from __future__ import annotations

import types
import typing
from dataclasses import fields, replace
from typing import Any, Literal

from relulab.config.fields import (
    ConfigError,
    DataConfig,
    OptimConfig,
    RunConfig,
    StatsConfig,
    StudentConfig,
    TeacherConfig,
    _check,
)

ALIASES: dict[str, str] = {
    "d": "teacher.input_dim",
    "m": "teacher.widths",
    "widths": "teacher.widths",
    "c": "teacher.output_dim",
    "p": "teacher.fan_out_decay",
    "multi": "student.multi",
    "init_std": "student.init_std",
    "sigma": "data.std",
    "data_std": "data.std",
    "N": "data.train_size",
    "lr": "optim.lr",
    "batch": "optim.batch_size",
    "batch_size": "optim.batch_size",
    "epochs": "optim.epochs",
    "steps_per_epoch": "optim.steps_per_epoch",
    "seed": "root_seed",
    "loss": "optim.loss",
    "sampling": "data.sampling",
    "alpha_mean": "data.alpha_mean",
    "alpha_width": "data.alpha_width",
}

_SECTIONS = {"teacher": TeacherConfig, "student": StudentConfig, "data": DataConfig,
             "optim": OptimConfig, "stats": StatsConfig}


def resolve_key(key: str) -> tuple[str | None, str]:
    """Map an override key (alias or dotted path) to (section or None, field name)."""
    path = ALIASES.get(key, key)
    if "." in path:
        section, name = path.split(".", 1)
        _check(section in _SECTIONS, f"unknown config key '{key}'")
        names = {f.name for f in fields(_SECTIONS[section])}
        _check(name in names, f"unknown config key '{key}'")
        return section, name
    names = {f.name for f in fields(RunConfig)} - set(_SECTIONS)
    _check(path in names, f"unknown config key '{key}'")
    return None, path


def _field_type(section: str | None, name: str) -> Any:
    cls = _SECTIONS[section] if section else RunConfig
    return typing.get_type_hints(cls)[name]


def _parse_scalar(text: str, tp: Any, key: str) -> Any:
    text = text.strip()
    origin = typing.get_origin(tp)
    if origin is Literal:
        _check(text in typing.get_args(tp),
               f"{key}: '{text}' is not one of {', '.join(map(str, typing.get_args(tp)))}")
        return text
    if tp is bool:
        low = text.lower()
        _check(low in {"true", "false", "1", "0", "yes", "no"}, f"{key}: '{text}' is not a bool")
        return low in {"true", "1", "yes"}
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}: '{text}' is not an integer") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}: '{text}' is not a number") from None
    if tp is str:
        return text
    raise ConfigError(f"{key}: cannot parse values of type {tp}")


def parse_value(key: str, text: str) -> Any:
    """Parse ``text`` into the type of config field ``key`` (raises ConfigError)."""
    section, name = resolve_key(key)
    tp = _field_type(section, name)
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        if text.strip().lower() in {"none", "null"} and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
        args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple:
        if name == "lr_schedule":  # "0:0.2,20:0.1"
            out = []
            for part in filter(None, text.split(",")):
                _check(":" in part, f"{key}: entry '{part}' is not epoch:lr")
                e, lr = part.split(":", 1)
                out.append((_parse_scalar(e, int, key), _parse_scalar(lr, float, key)))
            return tuple(out)
        item = args[0]
        parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
        _check(len(parts) > 0, f"{key}: empty list")
        return tuple(_parse_scalar(p, item, key) for p in parts)
    return _parse_scalar(text, tp, key)


def with_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Return ``cfg`` with ``{key: value}`` applied; string values are parsed by field type."""
    sections: dict[str | None, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, name = resolve_key(key)
        if isinstance(value, str):
            value = parse_value(key, value)
        elif section == "teacher" and name == "widths" and isinstance(value, int):
            value = (value,)
        sections.setdefault(section, {})[name] = value
    top = sections.pop(None, {})
    kwargs = dict(top)
    try:
        for section, vals in sections.items():
            kwargs[section] = replace(getattr(cfg, section), **vals)  # type: ignore[arg-type]
        return replace(cfg, **kwargs)
    except TypeError as exc:  # wrong python type passed through the API
        raise ConfigError(str(exc).splitlines()[0]) from None


def parse_set_args(items: list[str]) -> dict[str, str]:
    """Parse CLI ``--set key=value`` items into a dict (raises ConfigError on malformed)."""
    out: dict[str, str] = {}
    for item in items:
        _check("=" in item and item.split("=", 1)[0].strip() != "",
               f"--set '{item}' is not key=value")
        k, v = item.split("=", 1)
        resolve_key(k.strip())
        out[k.strip()] = v
    return out


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of :meth:`RunConfig.to_dict` (lists become tuples)."""

    def tup(v: Any) -> Any:
        if isinstance(v, list):
            return tuple(tup(x) for x in v)
        return v

    kw: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name in data:
            kw[name] = cls(**{k: tup(v) for k, v in data[name].items()})
    top = {f.name for f in fields(RunConfig)} - set(_SECTIONS)
    for k in sorted(top):
        if k in data:
            kw[k] = data[k]
    return RunConfig(**kw)
