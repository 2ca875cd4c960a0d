"""Shared CLI pieces: error handling, device resolution, console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from relulab.config import ConfigError, RunConfig
from relulab.config.presets import Preset, find_preset
from relulab.results.store import StoreError

if TYPE_CHECKING:
    import torch

console = Console()
F = TypeVar("F", bound=Callable[..., Any])

USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, StoreError, FileNotFoundError,
                                            NotADirectoryError)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` (one line) to stderr and return the exit-2 exception."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def os_error_message(exc: OSError) -> str:
    """``"Permission denied 'runs/x'"``: an OS error on a file in one line."""
    where = f" '{exc.filename}'" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def user_errors(fn: F) -> F:
    """Turn library validation errors and OS errors on files (permissions, full disk) into a
    one-line ``error:`` message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:  # `relulab query ... | head`: the reader has what it wanted
            _silence_stdout()
            raise typer.Exit(code=0) from None
        except (*USER_ERRORS, OSError) as exc:
            text = str(exc) if isinstance(exc, USER_ERRORS) else os_error_message(exc)
            raise fail(text.splitlines()[0] if text else type(exc).__name__) from None
        except (MemoryError, RuntimeError) as exc:  # torch: "can't allocate memory", CUDA OOM
            text = str(exc)
            if not isinstance(exc, MemoryError) and "out of memory" not in text.lower() \
                    and "allocate memory" not in text:
                raise
            raise fail("out of memory: the requested sizes do not fit this machine; use "
                       "fewer seeds, samples or smaller networks") from None

    return wrapper  # type: ignore[return-value]


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit does not fail again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass


def resolve_device(name: str) -> torch.device:
    """``--device``: ``auto`` -> CUDA when available else CPU; ``cuda`` without a GPU is an
    error (:func:`relulab.training.setup.resolve_device`)."""
    from relulab.training.setup import resolve_device as resolve

    return resolve(name, "--device")


CONFIG_HELP = ("config file (.json, .toml, .yaml): a run's config.json (a full config) or "
               "{preset: NAME, set: {key: value}}; --set applies on top")


def base_config(preset: str | None, config: Path | None, set_: list[str] | None,
                default: str | None = "demo") -> tuple[Preset, RunConfig | None, list[str]]:
    """What ``--preset`` / ``--config`` / ``--set`` name: the preset entry (the file's name as
    a synthetic one for a full config file), its config (None for a real-data preset, whose
    config the real-data command builds) and the ``--set`` items to apply (the file's first)."""
    from relulab.config.inputs import load_config_file

    items = list(set_ or [])
    if config is None:
        name = preset or default
        if name is None:
            raise ConfigError("give a preset or --config FILE")
        entry = find_preset(name)
        return entry, entry.config, items
    loaded = load_config_file(config)
    if preset is not None:
        raise ConfigError(f"--config {config} and preset '{preset}': give one of them")
    file_items = [f"{k}={v}" for k, v in loaded.overrides]
    if loaded.config is not None:
        return Preset(config.stem, f"config file {config}", loaded.config), loaded.config, items
    entry = find_preset(loaded.preset or "")
    return entry, entry.config, file_items + items
