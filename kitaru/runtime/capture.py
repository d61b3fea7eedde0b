"""What a checkpoint body prints and logs, kept for ``kitaru executions logs``.

While a flow runs in this process, ``sys.stdout``/``sys.stderr`` are tees that
still write everything through, and copy what is written inside a checkpoint
body (in that body's context, also from its threads that carry the context) to
the body's buffer; a root-logger handler does the same for log records. When
the last flow of the process ends, the streams the user had are put back.
The buffer is redacted by the leak guard before it is stored.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TextIO

MAX_CAPTURED = 256 * 1024

_buffer: ContextVar[list[str] | None] = ContextVar("kitaru_output", default=None)
_lock = threading.Lock()
_active = 0
_saved: dict[str, Any] = {}


def _keep(text: str) -> None:
    buf = _buffer.get()
    if buf is not None and sum(len(x) for x in buf) < MAX_CAPTURED:
        buf.append(text)


class _Tee:
    """A stream that writes through and keeps a copy for the running checkpoint."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        _keep(text)
        return self._inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _KeepRecords(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if _buffer.get() is not None:
            try:
                _keep(f"{record.levelname} {record.name}: {record.getMessage()}\n")
            except Exception:  # noqa: BLE001 - a bad log call must not fail the checkpoint
                return


@contextlib.contextmanager
def capturing() -> Iterator[None]:
    """Install the tees and the log handler for as long as a flow runs here."""
    global _active
    with _lock:
        _active += 1
        if _active == 1:
            _saved["stdout"], _saved["stderr"] = sys.stdout, sys.stderr
            _saved["handler"] = _KeepRecords()
            sys.stdout = _Tee(sys.stdout)
            sys.stderr = _Tee(sys.stderr)
            logging.getLogger().addHandler(_saved["handler"])
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                # Put back only what is still ours: something that replaced a
                # stream meanwhile (a test's capture) keeps its own.
                if isinstance(sys.stdout, _Tee):
                    sys.stdout = _saved["stdout"]
                if isinstance(sys.stderr, _Tee):
                    sys.stderr = _saved["stderr"]
                logging.getLogger().removeHandler(_saved["handler"])
                _saved.clear()


@contextlib.contextmanager
def checkpoint_output(keep: Callable[[str], None]) -> Iterator[None]:
    """Collect what the code in this context prints or logs; ``keep(text)`` it at the end.

    ``keep`` is called only if something was written, also when the code raised.
    """
    buf: list[str] = []
    token = _buffer.set(buf)
    try:
        yield
    finally:
        _buffer.reset(token)
        if buf:
            keep("".join(buf))


def passthrough(stream: TextIO) -> TextIO:
    """``stream`` without the copying tee, for kitaru's own output (progress lines)."""
    inner: TextIO = stream._inner if isinstance(stream, _Tee) else stream
    return inner
