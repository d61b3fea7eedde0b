"""Where progress events of a running flow go (the caller's reporter, if any).

``.run()`` sets a sink for the flow it runs in this process; checkpoint bodies
report their start, end and retries to it. No sink (a remote process, progress
switched off) means the events go nowhere, at the cost of one lookup.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class CheckpointEnded:
    """A checkpoint call ended: how long it took, its error (one line) and its LLM calls."""

    invocation_id: str
    seconds: float
    error: str | None
    llm_calls: list[dict[str, Any]]


class ProgressSink(Protocol):
    """Receives progress events; implementations must never raise."""

    def checkpoint_started(self, invocation_id: str, attempt: int) -> None: ...

    def checkpoint_finished(self, ended: CheckpointEnded) -> None: ...


_sink: ContextVar[ProgressSink | None] = ContextVar("kitaru_progress", default=None)


def current_sink() -> ProgressSink | None:
    """The sink of the flow running in this context, or None."""
    return _sink.get()


@contextlib.contextmanager
def reporting_to(sink: ProgressSink | None) -> Iterator[None]:
    """Send progress events of flows started in this context to ``sink``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def report_end(
    sink: ProgressSink | None,
    events: list[dict[str, Any]],
    invocation_id: str,
    started: float,
    error: BaseException | None,
) -> None:
    """Tell ``sink`` that a checkpoint call ended (with its LLM calls among ``events``)."""
    if sink is None:
        return
    text = None if error is None else f"{type(error).__name__}: {error}"[:200]
    calls = [e for e in events if e.get("checkpoint") == invocation_id]
    sink.checkpoint_finished(
        CheckpointEnded(invocation_id, time.monotonic() - started, text, calls)
    )
