"""Errors about executions: finding one, its end, its waits, retrying and replaying it.

Importers use :mod:`kitaru.errors`, which re-exports these; each class names
that module as its own (see :mod:`kitaru.errors.base`), so pickles load from there.
"""

from __future__ import annotations

from kitaru.errors.base import KitaruError, KitaruValidationError

__all__ = [
    "AmbiguousExecutionIdError",
    "ExecutionBusyError",
    "ExecutionCancelledError",
    "ExecutionNotFoundError",
    "ExecutionStateError",
    "FlowFailedError",
    "FlowWaitingError",
    "ReplayError",
    "WaitAbortedError",
]


class ExecutionNotFoundError(KitaruError, KeyError):
    """No execution with this ID exists."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(
            f"Execution {execution_id!r} not found. Run `kitaru executions list` to see executions."
        )
        self.execution_id = execution_id


class AmbiguousExecutionIdError(KitaruValidationError):
    """An execution ID prefix that matches more than one execution.

    ``candidates`` holds ``(execution ID, flow name)`` of the matches (up to ten).
    """

    def __init__(self, prefix: str, candidates: tuple[tuple[str, str | None], ...]) -> None:
        listed = ", ".join(f"{i} ({flow or '?'})" for i, flow in candidates)
        super().__init__(
            f"Execution ID prefix {prefix!r} matches {len(candidates)} executions: {listed}. "
            "Give more characters.",
            field="execution_id",
        )
        self.prefix = prefix
        self.candidates = candidates


class FlowFailedError(KitaruError, RuntimeError):
    """An execution ended failed; ``error`` is the (redacted) error that ended it.

    ``checkpoint`` names the failed checkpoint call when one failed, and
    ``error_type`` the class name of its error, as recorded on the run.
    """

    def __init__(
        self,
        *,
        execution_id: str,
        flow: str,
        error: str | None,
        checkpoint: str | None = None,
        status: str = "failed",
    ) -> None:
        where = f" in checkpoint {checkpoint!r}" if checkpoint else ""
        detail = f": {error}" if error else " (no error was recorded; see the orchestrator's logs)"
        if status == "cancelled":
            detail = ""
        fix = ""
        if status in ("crashed", "cancelled", "failed"):
            fix = (
                " Retry it in place (finished checkpoints are not run again): "
                f"kitaru executions retry {execution_id}"
            )
        super().__init__(f"Execution {execution_id} of flow {flow!r} {status}{where}{detail}.{fix}")
        self.execution_id = execution_id
        self.flow = flow
        self.error = error
        self.checkpoint = checkpoint
        self.status = status
        self.error_type = error.split(":", 1)[0] if error else None


class ExecutionBusyError(KitaruValidationError):
    """An execution cannot be retried now: its runner is alive, or another retry holds it."""

    def __init__(self, execution_id: str, reason: str) -> None:
        super().__init__(f"Execution {execution_id} {reason}", field="execution_id")
        self.execution_id = execution_id
        self.reason = reason


class ExecutionStateError(KitaruError):
    """The execution is not in a state that allows this (its status is named)."""

    def __init__(self, execution_id: str, status: str, message: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.status = status


class ExecutionCancelledError(KitaruError):
    """Raised in a flow when its execution was cancelled: no further checkpoint starts."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"Execution {execution_id} was cancelled before this checkpoint.")
        self.execution_id = execution_id


class ReplayError(KitaruError):
    """A replay that cannot be matched safely to its original execution."""

    def __init__(self, message: str, *, execution_id: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id


class FlowWaitingError(KitaruError):
    """The execution stopped at ``kitaru.wait()`` and released its process (``waits``: pending)."""

    def __init__(self, *, execution_id: str, flow: str, waits: tuple[str, ...]) -> None:
        named = f"wait {', '.join(map(repr, waits))}" if waits else "a wait answered since"
        super().__init__(
            f"Execution {execution_id} of flow {flow!r} is waiting ({named}). Answer: "
            f"`kitaru executions input {execution_id} --value JSON` (or --abort); then "
            f"continue it: `kitaru executions resume {execution_id}`."
        )
        self.execution_id, self.flow, self.waits = execution_id, flow, waits


class WaitAbortedError(KitaruError):
    """Raised by ``kitaru.wait()`` in the flow when the wait was aborted, not answered."""

    def __init__(self, *, execution_id: str, wait: str) -> None:
        super().__init__(f"Wait {wait!r} of execution {execution_id} was aborted.")
        self.execution_id, self.wait = execution_id, wait
