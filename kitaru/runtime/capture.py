"""What a checkpoint body prints and logs, kept for ``kitaru executions logs``.

While a flow runs in this process, ``sys.stdout``/``sys.stderr`` are tees that
still write everything through, and copy what is written inside a checkpoint
body (in that body's context, also from its threads that carry the context) to
the body's buffer; a root-logger handler does the same for log records. When
the last flow of the process ends, the streams the user had are put back.
The buffer is redacted by the leak guard before it is stored.

In an orchestrator's process (see :func:`redact_process_output`) the streams
and log records are also redacted on their way to the process's own log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TextIO

MAX_CAPTURED = 256 * 1024

_lock = threading.Lock()
_active = 0
_saved: dict[str, Any] = {}


class _Kept:
    """One body's captured writes, with a running size so each write costs O(its length).

    Whole writes are kept until :data:`MAX_CAPTURED` characters are reached (a
    write is never cut, so a secret inside it stays whole for redaction); the
    characters of the writes after that are only counted.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0
        self._lock = threading.Lock()  # the body's threads write into it too

    def add(self, text: str) -> None:
        with self._lock:
            if self.size < MAX_CAPTURED:
                self.parts.append(text)
                self.size += len(text)
            else:
                self.dropped += len(text)

    def text(self) -> str:
        kept = "".join(self.parts)
        if self.dropped:
            kept += f"\n[kitaru: {self.dropped} more characters were not kept]\n"
        return kept


_buffer: ContextVar[_Kept | None] = ContextVar("kitaru_output", default=None)


def _keep(text: str) -> None:
    buf = _buffer.get()
    if buf is not None:
        buf.add(text)


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
    buf = _Kept()
    token = _buffer.set(buf)
    try:
        yield
    finally:
        _buffer.reset(token)
        if buf.parts:
            keep(buf.text())


# Longest partial line a redacting stream holds back before writing it anyway.
MAX_PENDING = 64 * 1024


class _Redacting:
    """A stream that writes whole lines with remembered secret values redacted.

    Holding a partial line back lets a value written in pieces (``write`` of
    each half) still be redacted; ``flush`` writes what is held.
    """

    def __init__(self, inner: TextIO, redact: Callable[[str], str]) -> None:
        self._inner = inner
        self._redact = redact
        self._pending: list[str] = []
        self._size = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending.append(text)
            self._size += len(text)
            if "\n" not in text and self._size < MAX_PENDING:
                return len(text)
            held = "".join(self._pending)
            head, newline, tail = held.rpartition("\n")
            if newline and len(tail) < MAX_PENDING:
                held, rest = head + newline, tail
            else:
                rest = ""
            self._pending, self._size = ([rest], len(rest)) if rest else ([], 0)
            self._inner.write(self._redact(held))  # in the lock: lines keep their order
        return len(text)

    def flush(self) -> None:
        with self._lock:
            held = "".join(self._pending)
            self._pending, self._size = [], 0
            if held:
                self._inner.write(self._redact(held))
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def redact_process_output(redact: Callable[[str], str]) -> None:
    """In an orchestrator's process: redact what reaches its log from now on.

    ``sys.stdout``/``sys.stderr`` become :class:`_Redacting` streams, and every
    log record's message (and traceback) is redacted when the record is made,
    before any handler (ZenML's console handler, a pod's log) sees it. The
    user's own terminal is never changed this way: it shows what their code
    prints. Idempotent.
    """
    with _lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _Redacting):
                setattr(sys, name, _Redacting(stream, redact))
        factory = logging.getLogRecordFactory()
        if getattr(factory, "kitaru_redacting", False):
            return

        def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            _redact_record(record, redact)
            return record

        make_record.kitaru_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(make_record)


def _redact_record(record: logging.LogRecord, redact: Callable[[str], str]) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad log call is the handler's to report
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        clean = redact(text)
        if clean != text:
            record.exc_text, record.exc_info = clean.rstrip("\n"), None


def passthrough(stream: TextIO) -> TextIO:
    """``stream`` without the copying tee, for kitaru's own output (progress lines)."""
    inner: TextIO = stream._inner if isinstance(stream, _Tee) else stream
    return inner
