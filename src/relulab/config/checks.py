"""Validation helpers of the config dataclasses: the one-line :class:`ConfigError`, a check,
and the type / finiteness check every section runs on construction."""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from typing import Any, Literal


class ConfigError(ValueError):
    """A configuration value or override is invalid (one-line message)."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _type_ok(value: Any, tp: Any) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return value in args
    if origin in (types.UnionType, typing.Union):
        return any(_type_ok(value, a) for a in args)
    if tp is type(None):
        return value is None
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_type_ok, value, args))
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _check_types(obj: Any) -> None:
    """Every field of a config dataclass holds a value of its annotated type."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        value = getattr(obj, f.name)
        _check(_type_ok(value, hints[f.name]),
               f"{type(obj).__name__}.{f.name}: {value!r} is not of type "
               f"{getattr(hints[f.name], '__name__', hints[f.name])}")
        _check(all(math.isfinite(v) for v in _numbers(value)),
               f"{type(obj).__name__}.{f.name}: {value!r} is not finite")


def _numbers(value: Any) -> list[float]:
    """The float values inside ``value`` (nested tuples included)."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, tuple):
        return [x for v in value for x in _numbers(v)]
    return []
