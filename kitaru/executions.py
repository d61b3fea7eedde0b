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


def list_executions(limit: int = 50, flow: str | None = None) -> list[ExecutionSummary]:
    """The newest executions first (optionally of one flow)."""
    from kitaru._zenml import runs

    return [ExecutionSummary(**r) for r in runs.list_runs(limit=limit, flow=flow)]


def get_execution(execution_id: str) -> Execution:
    """One execution by full ID.

    Raises:
        ExecutionNotFoundError: no execution has this ID.
    """
    from kitaru._zenml import runs

    data = runs.get_run(execution_id)
    data["checkpoints"] = tuple(CheckpointRecord(**c) for c in data["checkpoints"])
    data["secret_reads"] = tuple(data["secret_reads"])
    return Execution(**data)
