"""Past and current executions of flows: status, checkpoints, secret reads, LLM calls.

An execution is named by its full ID or by a unique prefix of it (8 characters
or more); an ambiguous prefix raises
:class:`~kitaru.errors.AmbiguousExecutionIdError` listing the candidates.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from kitaru.errors import BackendError
from kitaru.wait_input import WaitInfo

if TYPE_CHECKING:
    from kitaru._run.handle import FlowHandle

__all__ = [
    "CheckpointRecord",
    "Execution",
    "ExecutionSummary",
    "WaitInfo",
    "abort_wait",
    "get_execution",
    "give_input",
    "list_executions",
    "list_waits",
    "recover",
    "resolve_execution_id",
    "resume",
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
    metadata: dict[str, Any] = Field(default_factory=dict)  # what kitaru.log() attached


class Execution(ExecutionSummary):
    """An execution with its checkpoints and its secret-read audit (names only)."""

    checkpoints: tuple[CheckpointRecord, ...] = ()
    secret_reads: tuple[dict[str, Any], ...] = ()
    llm_calls: tuple[dict[str, Any], ...] = ()  # redacted when recorded; never a credential
    error: str | None = None
    result: str | None = None  # a short summary, with ``get_execution(..., outputs=True)``
    metadata: dict[str, Any] = Field(default_factory=dict)  # kitaru.log() in the flow body
    waits: tuple[WaitInfo, ...] = ()  # kitaru.wait() calls: question, schema, answer


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
    from kitaru.runtime.statuses import EXECUTION_STATUSES

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
    from kitaru._run.output_summary import summarise

    return summarise(value, SUMMARY_CHARS)


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
    from kitaru import wait_input
    from kitaru._zenml import runs

    full_id = resolve_execution_id(execution_id)
    data = runs.get_run(full_id)
    data["llm_calls"] = tuple(data.get("llm_calls") or ())
    checkpoints = data["checkpoints"]
    if outputs:
        from kitaru._config.disk_space import store_disk_full
        from kitaru._zenml.run_lookup import UNREADABLE, checkpoint_outputs

        unread = "(not readable here)"
        try:
            loaded = checkpoint_outputs(full_id, runs.RESULT_STEP_PREFIX)
        except BackendError:
            if not store_disk_full():
                raise
            # ZenML cannot open its store on a full disk; the record above was read without it.
            unread = "(not loaded: the disk holding the store is full)"
            loaded = {c["id"]: UNREADABLE for c in checkpoints if c["status"] == "completed"}
        for c in checkpoints:
            if c["id"] in loaded:
                value = loaded[c["id"]]
                c["output"] = unread if value is UNREADABLE else _summarise(value)
        try:
            data["result"] = _summarise(runs.flow_result(full_id))
        except KeyError:
            data["result"] = None
        except Exception:  # noqa: BLE001 - e.g. an artifact store not reachable from here
            data["result"] = unread
    data["waits"] = tuple(wait_input.list_waits(full_id))
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
    from kitaru._run.retry import retry_execution

    return retry_execution(resolve_execution_id(execution_id))


def recover(flow: str | None = None) -> list[FlowHandle[Any]]:
    """Retry every crashed execution of the current store (of ``flow`` only, if given).

    For a service that restarts: each crashed execution is retried once, even
    when several processes recover at the same time. Returns the handles of the
    executions this call retried.
    """
    from kitaru._run.retry import recover as recover_all

    return recover_all(flow)


def list_waits(execution_id: str, *, pending_only: bool = False) -> list[WaitInfo]:
    """The ``kitaru.wait()`` calls of an execution (full ID or unique prefix), oldest first.

    Each :class:`WaitInfo` has the wait's name, status (``pending``, ``answered``
    or ``aborted``), question, the JSON Schema of its answer (None for a
    continue/abort gate), metadata, and who answered, when, and what.
    """
    from kitaru import wait_input

    return wait_input.list_waits(resolve_execution_id(execution_id), pending_only=pending_only)


def give_input(execution_id: str, value: Any, *, wait: str | None = None) -> str:
    """Answer the pending ``kitaru.wait()`` of an execution with ``value``; returns the wait's name.

    ``value`` must match the wait's schema. A flow still polling continues at
    once; a released one continues with :func:`resume`.

    Raises:
        ExecutionStateError: the execution has no pending wait (its status is named).
        KitaruValidationError: the value is not JSON or does not match the schema,
            or several waits are pending and ``wait`` does not name one.
        SecretLeakError: the value holds a value of a secret the execution read.
    """
    from kitaru import wait_input

    return wait_input.give_input(resolve_execution_id(execution_id), value, wait=wait)


def abort_wait(execution_id: str, *, wait: str | None = None) -> str:
    """Abort the pending ``kitaru.wait()`` of an execution; returns the wait's name.

    ``wait()`` then raises :class:`~kitaru.errors.WaitAbortedError` in the flow
    (at once if it still polls, else when it is resumed).

    Raises:
        ExecutionStateError: the execution has no pending wait.
    """
    from kitaru import wait_input

    return wait_input.abort_wait(resolve_execution_id(execution_id), wait=wait)


def resume(execution_id: str) -> FlowHandle[Any]:
    """Continue a waiting execution in place, after its wait was answered; returns its handle.

    Checkpoints that completed return their stored outputs without running and
    ``wait()`` returns the answer.

    Raises:
        KitaruValidationError: the execution still waits for input.
        ExecutionStateError: the execution is not waiting (its status is named).
    """
    from kitaru import wait_input

    return wait_input.resume(resolve_execution_id(execution_id))
