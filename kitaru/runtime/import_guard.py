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

Threads started while a module is being imported (``Thread.start``,
``threading.Timer``, a ``ThreadPoolExecutor`` worker, ``asyncio.to_thread``) run
without that module's frames on their stack. So ``Thread.start`` is wrapped, once,
when this module is imported: it notes which import (module and line) was running
in the starting thread. A read in such a thread, or in a thread it started, is
refused as long as that import has not finished (its module frame is still on
the starting thread's stack).
"""

from __future__ import annotations

import sys
import threading
import weakref
from dataclasses import dataclass
from importlib import _bootstrap  # the import system's own (frozen) frames
from types import CodeType, FrameType
from typing import Any

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


def _scan(start: FrameType | None) -> tuple[FrameType | None, bool]:
    """The innermost ``<module>`` frame of a module being imported, and whether a
    runtime boundary ended the walk first."""
    frame = start
    boundaries = _boundaries
    while frame is not None:
        code = frame.f_code
        if code in boundaries:
            return None, True
        if code.co_name == "<module>" and _is_being_imported(frame):
            return frame, False
        frame = frame.f_back
    return None, False


def importing_module(start: FrameType | None) -> FrameType | None:
    """The innermost ``<module>`` frame of a module being imported, if any."""
    return _scan(start)[0]


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


@dataclass(frozen=True)
class _Origin:
    """Where a thread was started: the import running in its starter, if any."""

    starter: int  # ident of the thread that called ``start``
    module_frame: FrameType | None
    lineno: int
    parent: _Origin | None  # the starter's own origin


_origins: weakref.WeakKeyDictionary[threading.Thread, _Origin] = weakref.WeakKeyDictionary()
_thread_start = threading.Thread.start


def _start_noting_origin(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
    caller = sys._getframe(1)
    module_frame = importing_module(caller)
    lineno = _lookup_line(caller, module_frame) if module_frame is not None else 0
    parent = _origins.get(threading.current_thread())
    if module_frame is not None or parent is not None:
        _origins[self] = _Origin(threading.get_ident(), module_frame, lineno, parent)
    _thread_start(self, *args, **kwargs)


threading.Thread.start = _start_noting_origin  # type: ignore[method-assign]


def _on_stack(thread_ident: int, target: FrameType) -> bool:
    frame = sys._current_frames().get(thread_ident)
    while frame is not None:
        if frame is target:
            return True
        frame = frame.f_back
    return False


def _unfinished_import_of_thread() -> _Origin | None:
    """The origin of this thread (or of a thread that started it) whose import still runs."""
    origin = _origins.get(threading.current_thread())
    while origin is not None:
        if origin.module_frame is not None and _on_stack(origin.starter, origin.module_frame):
            return origin
        origin = origin.parent
    return None


def refuse_at_import_time(secret: str, *, depth: int = 2) -> None:
    """Raise :class:`ImportTimeSecretError` if called during a module import.

    That is: a module being imported is on this thread's stack, or this thread was
    started (directly or through other threads) while a module was being imported
    and that import has not finished. ``depth`` is how many frames above this
    call the user's code sits.
    """
    start = sys._getframe(depth)
    frame, at_boundary = _scan(start)
    lineno = _lookup_line(start, frame) if frame is not None else 0
    if frame is None and not at_boundary:
        origin = _unfinished_import_of_thread()
        if origin is not None:
            frame, lineno = origin.module_frame, origin.lineno
    if frame is not None:
        raise ImportTimeSecretError(
            secret,
            module=str(frame.f_globals.get("__name__", "?")),
            filename=frame.f_code.co_filename,
            lineno=lineno,
        )
