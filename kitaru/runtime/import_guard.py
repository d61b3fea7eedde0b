"""Refuse secret reads made while a module is being imported.

A module's top-level code runs in a frame whose code is named ``<module>``. A
read happens at import time if such a frame is on the stack for a module that
the import system is executing right now: its class bodies, decorator arguments,
comprehensions, helpers it calls and nested imports included. ``__main__`` (the
script being run, ``python -c``, the REPL) is never an import. Code run with
``exec``/``eval`` or by doctest also has ``<module>`` frames but is not an import,
so it is not refused unless an import is further down the stack.

The walk stops at kitaru's own runtime boundaries (the frames that call a flow or
checkpoint body), so a flow started from anywhere may read secrets inside its
bodies, while a module imported from inside a body is still checked. The walk
costs one attribute read and one set lookup per frame; the rest runs only for
``<module>`` frames or when raising.
"""

from __future__ import annotations

import sys
from importlib import _bootstrap  # the import system's own (frozen) frames
from types import CodeType, FrameType

from kitaru.errors import ImportTimeSecretError

_boundaries: set[CodeType] = set()

# ``SourceLoader.exec_module`` (and so ``importlib.reload`` and manual
# ``spec.loader.exec_module(module)``) runs a module's code from this function.
_exec_fn = getattr(_bootstrap, "_call_with_frames_removed", None)
_IMPORT_EXEC: frozenset[CodeType] = frozenset({_exec_fn.__code__} if _exec_fn is not None else ())


def register_boundary(code: CodeType) -> None:
    """Mark ``code`` as a runtime boundary: frames below it run user bodies."""
    _boundaries.add(code)


def _is_being_imported(frame: FrameType) -> bool:
    """True if ``frame`` (a ``<module>`` frame) runs a module the import system loads now."""
    globals_ = frame.f_globals
    if globals_.get("__name__") == "__main__":
        return False
    # The import system marks the spec while it executes the module (any loader,
    # e.g. pytest's assertion rewriter); loaders it does not go through still run
    # the code from the import system's own frames.
    if getattr(globals_.get("__spec__"), "_initializing", False):
        return True
    back = frame.f_back
    return back is not None and back.f_code in _IMPORT_EXEC


def importing_module(start: FrameType | None) -> FrameType | None:
    """The innermost ``<module>`` frame of a module being imported, if any."""
    frame = start
    boundaries = _boundaries
    while frame is not None:
        code = frame.f_code
        if code in boundaries:
            return None
        if code.co_name == "<module>" and _is_being_imported(frame):
            return frame
        frame = frame.f_back
    return None


def _lookup_line(start: FrameType, module_frame: FrameType) -> int:
    """Line of the read in the importing module's file.

    The innermost frame between ``start`` and ``module_frame`` whose code lives
    in that file: the line inside a class body, comprehension or local helper,
    or the module line that called into another module.
    """
    filename = module_frame.f_code.co_filename
    frame: FrameType | None = start
    while frame is not None and frame is not module_frame:
        if frame.f_code.co_filename == filename:
            return frame.f_lineno
        frame = frame.f_back
    return module_frame.f_lineno


def refuse_at_import_time(secret: str, *, depth: int = 2) -> None:
    """Raise :class:`ImportTimeSecretError` if called during a module import.

    ``depth`` is how many frames above this call the user's code sits.
    """
    start = sys._getframe(depth)
    frame = importing_module(start)
    if frame is not None:
        raise ImportTimeSecretError(
            secret,
            module=str(frame.f_globals.get("__name__", "?")),
            filename=frame.f_code.co_filename,
            lineno=_lookup_line(start, frame),
        )
