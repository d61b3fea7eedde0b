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
without that module's frames on their stack. So ``Thread.start``,
``_thread.start_new_thread`` and ``ThreadPoolExecutor.submit`` are wrapped, once,
when this module is imported: each notes which import (module and line) was
running in the starting or submitting thread, on the thread or on the work item
(a pool's worker may have been started before the import). A read in such a
thread or work item, or in a thread it started, is refused as long as that
import has not finished (its module frame is still on the starting thread's
stack).
"""

from __future__ import annotations

import _thread
import sys
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
# The origin of the work a thread runs now, when it runs work handed over by
# another thread (a pool worker started earlier, a raw ``_thread`` thread).
_carried = threading.local()


def _current_origin() -> _Origin | None:
    carried: _Origin | None = getattr(_carried, "origin", None)
    return carried or _origins.get(threading.current_thread())


def _origin_here(caller: FrameType) -> _Origin | None:
    """The origin to hand to work started from ``caller``'s thread now, if any."""
    module_frame = importing_module(caller)
    lineno = _lookup_line(caller, module_frame) if module_frame is not None else 0
    parent = _current_origin()
    if module_frame is None and parent is None:
        return None
    return _Origin(threading.get_ident(), module_frame, lineno, parent)


def _carrying(origin: _Origin, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, run with ``origin`` as the origin of the thread that runs it."""

    def run(*args: Any, **kwargs: Any) -> Any:
        saved = getattr(_carried, "origin", None)
        _carried.origin = origin
        try:
            return fn(*args, **kwargs)
        finally:
            _carried.origin = saved

    return run


_thread_start = threading.Thread.start


def _start_noting_origin(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
    origin = _origin_here(sys._getframe(1))
    if origin is not None:
        _origins[self] = origin
    _thread_start(self, *args, **kwargs)


threading.Thread.start = _start_noting_origin  # type: ignore[method-assign]

# ``threading`` keeps its own reference to the original, so ``Thread.start`` is
# not affected; a direct ``_thread.start_new_thread`` call is.
_raw_start_new_thread = _thread.start_new_thread


def _start_new_thread_noting_origin(function: Any, args: Any, kwargs: Any = None) -> int:
    origin = _origin_here(sys._getframe(1))
    if origin is not None:
        function = _carrying(origin, function)
    if kwargs is None:
        return _raw_start_new_thread(function, args)
    return _raw_start_new_thread(function, args, kwargs)


_thread.start_new_thread = _start_new_thread_noting_origin
_thread.start_new = _start_new_thread_noting_origin

# A pool's workers may have been started before the import: the work item, not
# the worker, carries the origin (``submit``, ``map``, ``run_in_executor``,
# ``asyncio.to_thread``).
_pool_submit = ThreadPoolExecutor.submit


def _submit_noting_origin(
    self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Any:
    origin = _origin_here(sys._getframe(1))
    if origin is not None:
        fn = _carrying(origin, fn)
    return _pool_submit(self, fn, *args, **kwargs)


ThreadPoolExecutor.submit = _submit_noting_origin  # type: ignore[method-assign,assignment]


def _on_stack(thread_ident: int, target: FrameType) -> bool:
    frame = sys._current_frames().get(thread_ident)
    while frame is not None:
        if frame is target:
            return True
        frame = frame.f_back
    return False


def _unfinished_import_of_thread() -> _Origin | None:
    """The origin of this thread (or of a thread that started it) whose import still runs."""
    origin = _current_origin()
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
