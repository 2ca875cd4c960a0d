"""What a user writes for a run besides ``--set``: seed ranges and config files.

Seeds: ``N`` (0..N-1), ``A:B`` (A..B-1) or a list ``1,5,9``.

Config files (JSON, TOML or YAML, by suffix) hold either

* a full config, the ``config.json`` of a run (:meth:`RunConfig.to_dict`; missing fields take
  their defaults), or
* a preset with overrides: ``{"preset": "demo", "set": {"lr": 0.02, "widths": [5, 5]}}``
  (``set`` optional; its keys are those of ``--set``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relulab.config.checks import ConfigError
from relulab.config.fields import RunConfig
from relulab.config.overrides import config_from_dict, resolve_key

_SECTIONS = ("teacher", "student", "data", "optim", "stats")


def parse_seeds(text: str | int) -> tuple[int, ...]:
    """``"4"`` -> 0..3, ``"8:16"`` -> 8..15, ``"1,5,9"`` -> 1, 5, 9 (distinct, >= 0)."""
    text = str(text).strip()
    try:
        if ":" in text:
            lo, hi = (int(p) for p in text.split(":"))
            seeds = tuple(range(lo, hi))
            what = "the range A:B needs 0 <= A < B"
        elif "," in text:
            seeds = tuple(int(p) for p in text.split(",") if p.strip())
            what = "a list needs at least one seed, each >= 0"
        else:
            seeds = tuple(range(int(text)))
            what = f"--seeds must be positive, got {text}"
    except ValueError:
        raise ConfigError(f"--seeds '{text}' is not N, A:B or a list like 1,5,9") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(what if what.startswith("--seeds") else f"--seeds {text}: {what}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text}: seeds must be distinct")
    return seeds


@dataclass(frozen=True)
class ConfigFile:
    """A loaded config file: a full ``config`` or a ``preset`` with ``overrides``."""

    path: Path
    config: RunConfig | None = None
    preset: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()


def _read(path: Path) -> Any:
    suffix = path.suffix.lower()
    text = path.read_text()
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"--config {path}: reading YAML needs PyYAML "
                                  "(pip install pyyaml)") from None
            return yaml.safe_load(text)
    except ConfigError:
        raise
    except Exception as exc:  # each parser has its own error class
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"--config {path}: not valid {suffix[1:].upper()}: {first}") from None
    raise ConfigError(f"--config {path}: unknown suffix '{suffix}' (use .json, .toml, .yaml)")


def _as_text(value: Any) -> str:
    """A file's override value as ``--set`` text (lists joined by commas, pairs as a:b)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(":".join(map(_as_text, v)) if isinstance(v, list | tuple)
                        else _as_text(v) for v in value)
    return str(value)


def load_config_file(path: str | Path) -> ConfigFile:
    """Read ``path`` (see the module docstring); ConfigError on anything malformed."""
    path = Path(path)
    data = _read(path)
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping at the top level")
    if "preset" in data:
        extra = set(data) - {"preset", "set"}
        if extra:
            raise ConfigError(f"--config {path}: unknown key '{sorted(extra)[0]}' next to "
                              "'preset' (only 'set')")
        items = data.get("set") or {}
        if not isinstance(data["preset"], str) or not isinstance(items, dict):
            raise ConfigError(f"--config {path}: 'preset' must be a name and 'set' a mapping")
        pairs = tuple((str(k), _as_text(v)) for k, v in items.items())
        for key, _ in pairs:
            if not key.startswith("real."):
                resolve_key(key)
        return ConfigFile(path, preset=data["preset"], overrides=pairs)
    try:
        for name in _SECTIONS:
            if name in data and not isinstance(data[name], dict):
                raise ConfigError(f"section '{name}' must be a mapping")
        cfg = config_from_dict(data)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"--config {path}: {str(exc).splitlines()[0]}") from None
    unknown = set(data) - set(cfg.to_dict())
    if unknown:
        raise ConfigError(f"--config {path}: unknown key '{sorted(unknown)[0]}'")
    return ConfigFile(path, config=cfg)
