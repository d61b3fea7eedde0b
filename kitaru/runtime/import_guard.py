"""Refuse secret reads made while a module is being imported.

A module's top-level code runs in a frame whose code is named ``<module>``. If
such a frame of any module other than ``__main__`` (the script being run, ``python
-c``, the REPL) is on the stack, the read happens at import time of that module:
its class bodies, decorator arguments and nested imports included. The walk stops
at kitaru's own runtime boundaries (the frames that call a flow or checkpoint
body), so a flow started from anywhere may read secrets inside its bodies.
"""

from __future__ import annotations

import sys
from types import CodeType, FrameType

from kitaru.errors import ImportTimeSecretError

_boundaries: set[CodeType] = set()


def register_boundary(code: CodeType) -> None:
    """Mark ``code`` as a runtime boundary: frames below it run user bodies."""
    _boundaries.add(code)


def importing_module(start: FrameType | None) -> FrameType | None:
    """The innermost module-level frame of a non-``__main__`` module, if any."""
    frame = start
    boundaries = _boundaries
    while frame is not None:
        code = frame.f_code
        if code in boundaries:
            return None
        if code.co_name == "<module>" and frame.f_globals.get("__name__") != "__main__":
            return frame
        frame = frame.f_back
    return None


def refuse_at_import_time(secret: str, *, depth: int = 2) -> None:
    """Raise :class:`ImportTimeSecretError` if called during a module import.

    ``depth`` is how many frames above this call the user's code sits.
    """
    frame = importing_module(sys._getframe(depth))
    if frame is not None:
        raise ImportTimeSecretError(
            secret,
            module=str(frame.f_globals.get("__name__", "?")),
            filename=frame.f_code.co_filename,
            lineno=frame.f_lineno,
        )
