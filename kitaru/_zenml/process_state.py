"""Keep ZenML from taking over the user's process while a flow runs.

Importing ZenML (which the first flow run does) and running a pipeline change
process-wide state: ZenML installs rich's ``sys.excepthook``, adds its console
and log-storage handlers to the root logger and raises its level, turns on
``logging.captureWarnings`` and adds warnings filters, wraps ``write`` of
``sys.stdout``/``sys.stderr`` to capture step output, sets
``TF_CPP_MIN_LOG_LEVEL``, and prints its log lines ("Failed to run step ...")
to stdout, coloured.

:func:`user_process_state` is entered around a flow run. On the way out it puts
all of that back as the user left it. While inside, ZenML's log lines go to
stderr (never stdout), and without colour when ``NO_COLOR`` is set or stderr is
not a terminal; ZenML's log-storage handler stays, so step logs are still
stored. Entering opens kitaru's ZenML client (``get_client()``), so ZenML is
imported with kitaru's configuration. Only imported lazily (it imports ZenML).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO, cast

_MISSING = object()
_STREAMS = ("stdout", "stderr")


@dataclass(frozen=True)
class _Snapshot:
    excepthook: Callable[..., Any]
    root_handlers: tuple[logging.Handler, ...]
    root_level: int
    warning_filters: list[Any]
    showwarning: Callable[..., Any]
    streams: dict[str, TextIO]
    # Each stream's own ``write`` attribute (ZenML sets one), or _MISSING.
    stream_writes: dict[str, Any]
    tf_log_level: str | None


def _take() -> _Snapshot:
    return _Snapshot(
        excepthook=sys.excepthook,
        root_handlers=tuple(logging.getLogger().handlers),
        root_level=logging.getLogger().level,
        warning_filters=list(warnings.filters),
        showwarning=warnings.showwarning,
        streams={name: getattr(sys, name) for name in _STREAMS},
        stream_writes={
            name: getattr(getattr(sys, name), "__dict__", {}).get("write", _MISSING)
            for name in _STREAMS
        },
        tf_log_level=os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
    )


def _restore(snap: _Snapshot) -> None:
    sys.excepthook = snap.excepthook
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler not in snap.root_handlers:
            root.removeHandler(handler)
    for handler in snap.root_handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(snap.root_level)
    if warnings.showwarning is not snap.showwarning:
        logging.captureWarnings(False)  # clears logging's record of the capture
        warnings.showwarning = snap.showwarning
    # resetwarnings() invalidates the "already warned" caches; then the filters go back.
    warnings.resetwarnings()
    cast(list[Any], warnings.filters)[:] = snap.warning_filters
    for name in _STREAMS:
        setattr(sys, name, snap.streams[name])
        stream = snap.streams[name]
        own = getattr(stream, "__dict__", None)
        if own is None:
            continue
        before = snap.stream_writes[name]
        if before is _MISSING:
            own.pop("write", None)
        else:
            own["write"] = before
    if snap.tf_log_level is None:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = snap.tf_log_level


def wants_colour(stream: Any) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _ToStderr:
    """A stream that writes to the stderr the user had, past ZenML's capture wrapper."""

    def __init__(self, write: Callable[[str], Any], flush: Callable[[], Any]) -> None:
        self._write = write
        self._flush = flush

    def write(self, text: str) -> Any:
        return self._write(text)

    def flush(self) -> None:
        self._flush()


class _ZenMLRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "zenml" or record.name.startswith("zenml.")


def _console_handler(snap: _Snapshot) -> logging.Handler:
    """ZenML's log lines on the user's stderr; ZenML's colours only where wanted."""
    from zenml.logger import ZenMLConsoleHandler

    err = snap.streams["stderr"]
    write = snap.stream_writes["stderr"]
    target = _ToStderr(err.write if write is _MISSING else write, err.flush)
    handler: logging.Handler
    if wants_colour(err):
        handler = ZenMLConsoleHandler(stream=target)
    else:
        handler = logging.StreamHandler(target)
        handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_ZenMLRecords())
    return handler


def _wrap_streams_for_zenml() -> None:
    """Let ZenML capture step output into step logs, also on a second run in the process.

    ZenML wraps ``write`` of the streams once per process and remembers that it
    did; after :func:`_restore` took the wrappers off, its flags must be reset
    for it to wrap the streams in use now.
    """
    from zenml import logger as zenml_logger

    for name in _STREAMS:
        if "write" not in getattr(getattr(sys, name), "__dict__", {}):
            setattr(zenml_logger, f"_{name}_wrapped", False)
    zenml_logger.wrap_stdout_stderr()


@contextlib.contextmanager
def user_process_state() -> Iterator[None]:
    """Run the body (a flow run) and leave the process as it was before.

    Restored on exit: ``sys.excepthook``, the root logger's handlers and level,
    the warnings filters and ``warnings.showwarning``, ``sys.stdout`` and
    ``sys.stderr`` (and their ``write``), ``TF_CPP_MIN_LOG_LEVEL``. Inside,
    ZenML's console log lines go to stderr, uncoloured unless stderr is a
    terminal and ``NO_COLOR`` is unset.
    """
    snap = _take()
    try:
        # Opening kitaru's client configures ZenML's environment, then imports it:
        # that import is what installs most of the above.
        from kitaru._zenml.client import get_client

        get_client()
        from zenml.logger import ZenMLConsoleHandler

        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, ZenMLConsoleHandler) and handler not in snap.root_handlers:
                root.removeHandler(handler)  # it prints to stdout
        _wrap_streams_for_zenml()
        root.addHandler(_console_handler(snap))
        yield
    finally:
        _restore(snap)
