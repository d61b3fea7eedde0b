"""The one guard that puts back the process-wide state ZenML and a run may change.

What kitaru does in the user's process must leave that process as it was. Two
moments change it:

- importing ZenML (once, through ``client.import_zenml``) runs its
  ``init_logging()``: it adds root-logger handlers and lowers the root level,
  adds warnings filters, sets its own ``write`` on the ``sys.stdout`` and
  ``sys.stderr`` objects (to copy what is printed into step logs), turns on
  ``logging.captureWarnings`` (the user's later ``warnings.warn`` calls would go
  to the ``py.warnings`` logger instead of stderr) and sets
  ``TF_CPP_MIN_LOG_LEVEL=3`` in ``os.environ``;
- starting a run imports more libraries (ZenML's execution path, OpenTelemetry,
  litellm) that add warnings filters, logging handlers or an excepthook.

:func:`process_state_kept`, entered around both, puts all of these back as they
were. ZenML wraps the streams once per process, so they stay the user's for
good. It imports nothing from ZenML. (``os.environ`` variables a run sets for
ZenML are put back by ``process_env.flow_environment``, which counts the runs
still going.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

_MISSING = object()
_STREAMS = ("stdout", "stderr")
_ENV = "TF_CPP_MIN_LOG_LEVEL"


def _own_write(stream: Any) -> Any:
    """The ``write`` set on the stream object itself (ZenML's wrapper), or _MISSING."""
    return getattr(stream, "__dict__", {}).get("write", _MISSING)


@contextlib.contextmanager
def process_state_kept() -> Iterator[None]:
    """On exit, restore the excepthook, root logger, warnings and streams as they were.

    That is: ``sys.excepthook``; the root logger's level and handlers (handlers
    added inside are removed); the warnings filters and ``warnings.showwarning``
    (with ``logging.captureWarnings``); the ``write`` set on the ``sys.stdout`` and
    ``sys.stderr`` objects; and ``TF_CPP_MIN_LOG_LEVEL``.
    """
    hook = sys.excepthook
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    filters = list(warnings.filters)
    showwarning = warnings.showwarning
    streams = {name: getattr(sys, name) for name in _STREAMS}
    writes = {name: _own_write(stream) for name, stream in streams.items()}
    env = os.environ.get(_ENV)
    try:
        yield
    finally:
        sys.excepthook = hook
        for h in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(h)
        root.setLevel(level)
        _restore_streams(streams, writes)
        if warnings.showwarning is not showwarning:
            logging.captureWarnings(False)  # clears logging's record of the capture too
            warnings.showwarning = showwarning
        if warnings.filters != filters:
            warnings.resetwarnings()  # also tells the warnings module its filters changed
            warnings.filters[:] = filters  # type: ignore[index]
        if env is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = env


def _restore_streams(streams: dict[str, Any], writes: dict[str, Any]) -> None:
    """Put back (or take off) the ``write`` set on each stream object."""
    for name, stream in streams.items():
        own = getattr(stream, "__dict__", None)
        if own is None:
            continue
        if writes[name] is _MISSING:
            own.pop("write", None)
        else:
            own["write"] = writes[name]
