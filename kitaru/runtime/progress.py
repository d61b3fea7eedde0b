"""Where progress events of a running flow go (the caller's reporter, if any).

``.run()`` sets a sink for the flow it runs in this process; checkpoint bodies
report their start, end and retries to it. No sink (a remote process, progress
switched off) means the events go nowhere, at the cost of one lookup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Protocol


class ProgressSink(Protocol):
    """Receives progress events; implementations must never raise."""

    def checkpoint_started(self, invocation_id: str, attempt: int) -> None: ...

    def checkpoint_finished(
        self,
        invocation_id: str,
        seconds: float,
        error: str | None,
        llm_calls: list[dict[str, Any]],
    ) -> None: ...


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
