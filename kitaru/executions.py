"""Past and current executions of flows: status, checkpoints, secret reads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["CheckpointRecord", "Execution", "ExecutionSummary", "get_execution", "list_executions"]


class ExecutionSummary(BaseModel):
    """One execution in a list: ID, flow, status, timing."""

    model_config = ConfigDict(frozen=True)

    id: str
    flow: str | None
    status: str
    started: str | None = None
    ended: str | None = None
    duration_s: float | None = None
    replayed_from: str | None = None
    user: str | None = None
    stack: str | None = None


class CheckpointRecord(BaseModel):
    """One checkpoint call of an execution."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    status: str
    started: str | None = None
    duration_s: float | None = None
    attempts: int = 1
    reused_from: str | None = None


class Execution(ExecutionSummary):
    """An execution with its checkpoints and its secret-read audit (names only)."""

    checkpoints: tuple[CheckpointRecord, ...] = ()
    secret_reads: tuple[dict[str, Any], ...] = ()
    error: str | None = None


MAX_LIMIT = 1000


def list_executions(limit: int = 50, flow: str | None = None) -> list[ExecutionSummary]:
    """The newest executions first (optionally of one flow).

    Raises:
        KitaruValidationError: ``limit`` is not an integer from 1 to 1000, or
            ``flow`` is not a string.
    """
    from kitaru._zenml import runs
    from kitaru.errors import KitaruValidationError

    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise KitaruValidationError(
            f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}.", field="limit"
        )
    if flow is not None and not isinstance(flow, str):
        raise KitaruValidationError(
            f"flow must be a flow name, got {type(flow).__name__}.", field="flow"
        )

    return [ExecutionSummary(**r) for r in runs.list_runs(limit=limit, flow=flow)]


def get_execution(execution_id: str) -> Execution:
    """One execution by full ID.

    Raises:
        ExecutionNotFoundError: no execution has this ID.
        KitaruValidationError: ``execution_id`` is not a string.
    """
    from kitaru._zenml import runs
    from kitaru.errors import KitaruValidationError

    if not isinstance(execution_id, str):
        raise KitaruValidationError(
            f"An execution ID is a string, got {type(execution_id).__name__}.",
            field="execution_id",
        )

    data = runs.get_run(execution_id)
    data["checkpoints"] = tuple(CheckpointRecord(**c) for c in data["checkpoints"])
    data["secret_reads"] = tuple(data["secret_reads"])
    return Execution(**data)
