"""Undo the process-wide changes ZenML makes that outlive a flow run.

Importing ZenML (which kitaru does once, in ``client.get_client``) runs its
``init_logging()``: besides the excepthook, root-logger handlers and level, and
warnings filters (put back there and by ``_flow_support.process_state_kept``), it

- sets its own ``write`` on the ``sys.stdout`` and ``sys.stderr`` objects, to
  copy what is printed into step logs;
- turns on ``logging.captureWarnings``, so later ``warnings.warn`` calls of the
  user go to the ``py.warnings`` logger instead of stderr;
- sets ``TF_CPP_MIN_LOG_LEVEL=3`` in ``os.environ``.

:func:`zenml_side_effects_undone`, entered around that import, puts those three
back as they were. ZenML wraps the streams once per process, so they stay the
user's for good. It imports nothing from ZenML.
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
def zenml_side_effects_undone() -> Iterator[None]:
    """On exit, restore the streams' ``write``, ``warnings.showwarning`` and the TF variable."""
    streams = {name: getattr(sys, name) for name in _STREAMS}
    writes = {name: _own_write(stream) for name, stream in streams.items()}
    showwarning = warnings.showwarning
    env = os.environ.get(_ENV)
    try:
        yield
    finally:
        for name, stream in streams.items():
            own = getattr(stream, "__dict__", None)
            if own is None:
                continue
            if writes[name] is _MISSING:
                own.pop("write", None)
            else:
                own["write"] = writes[name]
        if warnings.showwarning is not showwarning:
            logging.captureWarnings(False)  # clears logging's record of the capture too
            warnings.showwarning = showwarning
        if env is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = env
