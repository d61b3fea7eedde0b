"""Past and current executions of flows: status, checkpoints, secret reads, LLM calls.

An execution is named by its full ID or by a unique prefix of it (8 characters
or more); an ambiguous prefix raises
:class:`~kitaru.errors.AmbiguousExecutionIdError` listing the candidates.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from kitaru._handle import FlowHandle

__all__ = [
    "CheckpointRecord",
    "Execution",
    "ExecutionSummary",
    "get_execution",
    "list_executions",
    "recover",
    "resolve_execution_id",
    "retry",
]


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
    error: str | None = None  # the redacted error of a failed call
    output: str | None = None  # a short summary, with ``get_execution(..., outputs=True)``


class Execution(ExecutionSummary):
    """An execution with its checkpoints and its secret-read audit (names only)."""

    checkpoints: tuple[CheckpointRecord, ...] = ()
    secret_reads: tuple[dict[str, Any], ...] = ()
    llm_calls: tuple[dict[str, Any], ...] = ()  # redacted when recorded; never a credential
    error: str | None = None
    result: str | None = None  # a short summary, with ``get_execution(..., outputs=True)``


MAX_LIMIT = 1000
MIN_PREFIX = 8
SUMMARY_CHARS = 120
_FULL_ID = re.compile(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\Z")
_PREFIX = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]*\Z")


def list_executions(
    limit: int = 50, flow: str | None = None, status: str | None = None
) -> list[ExecutionSummary]:
    """The newest executions first (optionally of one flow, or with one status).

    ``status`` is one of ``running``, ``waiting``, ``completed``, ``failed``,
    ``crashed`` (the process running it died) or ``cancelled``; it is matched
    among the newest 1000 executions.

    Raises:
        KitaruValidationError: ``limit`` is not an integer from 1 to 1000, or
            ``flow`` or ``status`` is not a string.
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

    if status is not None and not isinstance(status, str):
        raise KitaruValidationError(
            f"status must be a status name, got {type(status).__name__}.", field="status"
        )
    if status is None:
        return [ExecutionSummary(**r) for r in runs.list_runs(limit=limit, flow=flow)]
    wanted = status.strip().lower()
    from kitaru.runtime.record import EXECUTION_STATUSES

    if wanted not in EXECUTION_STATUSES:
        raise KitaruValidationError(
            f"status must be one of {', '.join(EXECUTION_STATUSES)}; got {status!r}.",
            field="status",
        )
    found = [r for r in runs.list_runs(limit=MAX_LIMIT, flow=flow) if r["status"] == wanted]
    return [ExecutionSummary(**r) for r in found[:limit]]


def resolve_execution_id(ref: str) -> str:
    """The full ID of the execution ``ref`` names: a full ID, or a unique prefix (8+ chars).

    Raises:
        KitaruValidationError: ``ref`` is not a string, or a prefix shorter than 8.
        AmbiguousExecutionIdError: the prefix matches more than one execution.
        ExecutionNotFoundError: nothing matches.
    """
    from kitaru.errors import (
        AmbiguousExecutionIdError,
        ExecutionNotFoundError,
        KitaruValidationError,
    )

    if not isinstance(ref, str):
        raise KitaruValidationError(
            f"An execution ID is a string, got {type(ref).__name__}.", field="execution_id"
        )
    ref = ref.strip()
    if _FULL_ID.match(ref) or not _PREFIX.match(ref):
        return ref  # a full ID, or something no run ID starts with: looked up as given
    if len(ref.replace("-", "")) < MIN_PREFIX:
        raise KitaruValidationError(
            f"Execution ID prefix {ref!r} is too short: give at least {MIN_PREFIX} characters.",
            field="execution_id",
        )
    from kitaru._zenml.run_lookup import ids_with_prefix

    matches = ids_with_prefix(ref, limit=10)
    if not matches:
        raise ExecutionNotFoundError(ref)
    if len(matches) > 1:
        raise AmbiguousExecutionIdError(ref, tuple(matches))
    return matches[0][0]


def _summarise(value: Any) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def get_execution(execution_id: str, *, outputs: bool = False) -> Execution:
    """One execution by full ID or unique prefix (8+ characters).

    With ``outputs=True`` the flow's result and each checkpoint's output are
    loaded and summarised (their ``repr``, cut to 120 characters). Both passed
    the leak guard when they were stored, so they hold no secret value.

    Raises:
        ExecutionNotFoundError: no execution has this ID.
        AmbiguousExecutionIdError: the prefix matches more than one execution.
        KitaruValidationError: ``execution_id`` is not a string, or too short a prefix.
    """
    from kitaru._zenml import runs

    full_id = resolve_execution_id(execution_id)
    data = runs.get_run(full_id)
    data["llm_calls"] = tuple(data.get("llm_calls") or ())
    checkpoints = data["checkpoints"]
    if outputs:
        from kitaru._zenml.run_lookup import UNREADABLE, checkpoint_outputs

        loaded = checkpoint_outputs(full_id, runs.RESULT_STEP_PREFIX)
        for c in checkpoints:
            if c["id"] in loaded:
                value = loaded[c["id"]]
                c["output"] = "(not readable here)" if value is UNREADABLE else _summarise(value)
        try:
            data["result"] = _summarise(runs.flow_result(full_id))
        except KeyError:
            data["result"] = None
        except Exception:  # noqa: BLE001 - e.g. an artifact store not reachable from here
            data["result"] = "(not readable here)"
    data["checkpoints"] = tuple(CheckpointRecord(**c) for c in checkpoints)
    data["secret_reads"] = tuple(data["secret_reads"])
    return Execution(**data)


def retry(execution_id: str) -> FlowHandle[Any]:
    """Continue a failed, crashed or cancelled execution in place (same ID).

    Checkpoint calls that completed return their stored outputs without
    running; the first that did not runs again, and everything after it,
    reading secrets afresh. A completed execution is left as it is. The flow is
    imported from the module and project root recorded on the execution.
    ``execution_id`` may be a unique prefix (8 characters or more).

    Raises:
        ExecutionNotFoundError: no such execution.
        ExecutionBusyError: it is still running, waiting for input, or being retried.
        ReplayError: it was recorded before retry in place existed, its flow cannot
            be imported, or the flow's code changed its calls (replay it instead).
    """
    from kitaru._retry import retry_execution

    return retry_execution(resolve_execution_id(execution_id))


def recover(flow: str | None = None) -> list[FlowHandle[Any]]:
    """Retry every crashed execution of the current store (of ``flow`` only, if given).

    For a service that restarts: each crashed execution is retried once, even
    when several processes recover at the same time. Returns the handles of the
    executions this call retried.
    """
    from kitaru._retry import recover as recover_all

    return recover_all(flow)
