"""Shared CLI pieces: error handling, device resolution, console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from relulab.config import ConfigError
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


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` without a GPU is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, got '{name}'")
    return torch.device(name)
