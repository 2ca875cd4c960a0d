"""SIGINT / SIGTERM handling for long commands.

:class:`StopRequest` turns the first SIGINT or SIGTERM into a flag that the training loop
polls between steps (it then writes a checkpoint and stops); a second signal interrupts at
once. :func:`terminate_raises` makes SIGTERM behave like Ctrl-C (``KeyboardInterrupt``), so
``finally`` blocks and manifest updates run when a scheduler terminates a sweep.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class StopRequest:
    """A context manager; calling it tells whether a stop was requested."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:  # second signal: stop now
            raise KeyboardInterrupt
        self.signal = signum

    def __enter__(self) -> StopRequest:
        if _in_main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def terminate_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` as SIGINT does."""
    if not _in_main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
