"""Inline checkpoint calls waiting for their ZenML step, in the process that runs the flow.

A checkpoint's arguments (which may hold credentials) are never stored: its step
finds the call here, by run and invocation ID, and runs the body it holds.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass
class InlineCall:
    """One checkpoint call: its body, the context to run it in, and how it ended."""

    runner: Callable[[], Any]
    context: contextvars.Context | None = None
    result: Any = _MISSING
    error: BaseException | None = None

    def outcome(self, load: Callable[[], Any]) -> Any:
        """The body's result or error; ``load`` for an output reused from the store."""
        if self.error is not None:
            raise self.error
        return self.result if self.result is not _MISSING else load()


_calls: dict[str, InlineCall] = {}
_lock = threading.Lock()


def put(execution_id: str, invocation_id: str, call: InlineCall) -> str:
    """Leave ``call`` for its step; returns the key to take or discard it by."""
    key = f"{execution_id}/{invocation_id}"
    with _lock:
        _calls[key] = call
    return key


def take(key: str) -> InlineCall:
    """The call left under ``key``, removed (KeyError if there is none)."""
    with _lock:
        return _calls.pop(key)


def discard(key: str) -> None:
    """Remove the call under ``key``, if it is still there."""
    with _lock:
        _calls.pop(key, None)
