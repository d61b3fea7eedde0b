"""Answering a waiting execution: input, abort, resume (``kitaru.executions`` re-exports them).

Input is refused, with nothing stored, when the execution has no pending wait
(its status is named), when the value does not match the wait's schema, or
when it holds a value of a secret the execution read: the secrets named by the
execution's audit are read here, where this user may read them, and the value
is checked against them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kitaru._run.json_values import json_problem
from kitaru.errors import (
    ExecutionStateError,
    KitaruError,
    KitaruValidationError,
    SecretLeakError,
)
from kitaru.runtime import Redactor, SecretRead

if TYPE_CHECKING:
    from kitaru._run.handle import FlowHandle

_ANSWERABLE = ("running", "waiting")


class WaitInfo(BaseModel):
    """One ``kitaru.wait()`` of an execution: what it asks, and how it was answered."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: Literal["pending", "answered", "aborted"]
    question: str | None = None
    answer_schema: dict[str, Any] | None = None  # JSON Schema; None for a continue/abort gate
    metadata: dict[str, Any] = Field(default_factory=dict)
    created: str | None = None
    answered_by: str | None = None  # the user name (in team mode, whoever gave the input)
    answered_at: str | None = None
    value: Any = None  # the answer (None while pending, for a gate, or when aborted)


def _info(found: dict[str, Any]) -> WaitInfo:
    return WaitInfo(
        name=found["name"],
        status=found["status"],
        question=found["question"],
        answer_schema=found["schema"],
        metadata=found["metadata"],
        created=found["created"],
        answered_by=found["answered_by"],
        answered_at=found["answered_at"],
        value=found["value"],
    )


def list_waits(execution_id: str, *, pending_only: bool = False) -> list[WaitInfo]:
    """The waits of execution ``execution_id`` (full ID), oldest first."""
    from kitaru._zenml import run_reads, run_rest_reads

    if not pending_only:
        for read in (run_reads.waits_of, run_rest_reads.waits_of):
            try:
                return [_info(w) for w in read(execution_id)]
            except run_reads.SchemaMismatch:
                continue  # the next reader; last, ZenML's client
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import waits

    return [_info(w) for w in waits.waits_of(execution_id, pending_only=pending_only)]


def pending_waits(limit: int = 50) -> list[tuple[str, str | None, WaitInfo]]:
    """Pending waits of every execution, newest first: (execution ID, flow, the wait)."""
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import waits

    return [(w["execution_id"], w["flow"], _info(w)) for w in waits.pending_waits(limit)]


def _pending_wait(execution_id: str, wait: str | None) -> dict[str, Any]:
    from kitaru._zenml import runs, waits

    status = runs.run_status(execution_id)
    pending = waits.waits_of(execution_id, pending_only=True)
    if status not in _ANSWERABLE or not pending:
        hint = (
            f" Its wait was answered: continue it with `kitaru executions resume {execution_id}`."
            if status == "waiting"
            else ""
        )
        raise ExecutionStateError(
            execution_id,
            status,
            f"Execution {execution_id} is {status} and has no wait pending; nothing to "
            f"answer.{hint}",
        )
    if wait is None:
        if len(pending) > 1:
            names = ", ".join(repr(w["name"]) for w in pending)
            raise KitaruValidationError(
                f"Execution {execution_id} has several pending waits ({names}): name one.",
                field="wait",
            )
        return pending[0]
    for w in pending:
        if w["name"] == wait:
            return w
    names = ", ".join(repr(w["name"]) for w in pending)
    raise KitaruValidationError(
        f"Execution {execution_id} has no pending wait {wait!r} (pending: {names}).",
        field="wait",
    )


def _guard(execution_id: str, wait: dict[str, Any], value: Any) -> None:
    """Refuse ``value`` if it holds a value of a secret the execution read (where readable)."""
    from kitaru._store import secret_store
    from kitaru._zenml import runs

    names = set(wait.get("secrets") or [])
    for r in runs.kitaru_record(execution_id).get("secret_reads") or []:
        read = SecretRead.from_json(r)
        if read is not None:
            names.add(read.secret)
    redactor = Redactor()
    for name in sorted(names):
        try:
            stored = secret_store.get_secret(name)
        except KitaruError:
            continue  # not readable by this user (or gone): nothing to compare with here
        for key, secret_value in stored.values.items():
            if isinstance(secret_value, str):
                redactor.remember(secret_value, secret=name, key=key)
    match = redactor.find_in_object(value)
    if match is not None:
        raise SecretLeakError(
            where=f"Input to wait {wait['name']!r} of execution {execution_id}",
            secret=match.secret,
            key=match.key,
        )


def give_input(execution_id: str, value: Any, *, wait: str | None = None) -> str:
    """Answer the pending wait of ``execution_id`` (full ID) with ``value``; returns its name.

    If the flow's process still polls, the flow continues at once; if it was
    released, :func:`resume` continues the execution.
    """
    problem = json_problem(value, "value")
    if problem is not None:
        raise KitaruValidationError(f"Input {problem}; give a JSON value.", field="value")
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import waits

    pending = _pending_wait(execution_id, wait)
    schema = pending["schema"]
    if schema is None and value is not None:
        raise KitaruValidationError(
            f"Wait {pending['name']!r} is a continue/abort gate: it takes no value "
            "(give null, or abort it).",
            field="value",
        )
    if waits.ABORT_RESULT == value:
        raise KitaruValidationError(
            f"{json.dumps(value)} is kitaru's abort marker: abort the wait instead.",
            field="value",
        )
    # The leak guard first: a refusal for the schema must not quote a secret value.
    _guard(execution_id, pending, value)
    if schema is not None and not waits.matches_schema(schema, value):
        raise KitaruValidationError(
            f"Input does not match the schema of wait {pending['name']!r} "
            f"(JSON Schema: {json.dumps(schema)}); nothing was stored.",
            field="value",
        )
    _resolve(execution_id, pending, value)
    return str(pending["name"])


def abort_wait(execution_id: str, *, wait: str | None = None) -> str:
    """Abort the pending wait of ``execution_id`` (full ID): ``wait()`` raises
    ``WaitAbortedError`` in the flow. Returns the wait's name."""
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import waits

    pending = _pending_wait(execution_id, wait)
    _resolve(execution_id, pending, waits.ABORT_RESULT)
    return str(pending["name"])


def _resolve(execution_id: str, pending: dict[str, Any], result: Any) -> None:
    from kitaru._zenml import waits

    try:
        waits.answer(pending["id"], result)
    except ValueError:  # the store's own schema check (its message quotes the value)
        raise KitaruValidationError(
            f"Input does not match the schema of wait {pending['name']!r}; nothing was stored.",
            field="value",
        ) from None
    except KitaruError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. answered by someone else meanwhile
        raise ExecutionStateError(
            execution_id,
            "waiting",
            f"Wait {pending['name']!r} of execution {execution_id} could not be answered "
            f"({type(exc).__name__}); it may have been answered meanwhile.",
        ) from None


def resume(execution_id: str) -> FlowHandle[Any]:
    """Continue waiting execution ``execution_id`` (full ID) in place; returns its ``FlowHandle``.

    The same continuation as a retry (one at a time per execution, under its
    claim): checkpoints that completed return their stored outputs without
    running, and answered waits return their answers. On the local orchestrator
    this returns when the execution has ended or stopped at its next wait.
    """
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._run.handle import FlowHandle
    from kitaru._run.replay_by_id import load_recorded_flow
    from kitaru._zenml import continuation, runs, waits
    from kitaru._zenml.process_state import process_state_kept

    def refuse_unless_resumable() -> None:
        pending = waits.waits_of(execution_id, pending_only=True)
        if pending:
            raise KitaruValidationError(
                f"Execution {execution_id} is still waiting for input on wait "
                f"{pending[0]['name']!r}: answer it first with `kitaru executions input "
                f"{execution_id} --value JSON` (or --abort).",
                field="execution_id",
            )
        status = runs.run_status(execution_id)
        if status != "waiting":
            raise ExecutionStateError(
                execution_id,
                status,
                f"Execution {execution_id} is {status}, not waiting: there is nothing to resume.",
            )

    refuse_unless_resumable()
    flow = load_recorded_flow(execution_id, "resume").flow_name
    tag = continuation.claim(execution_id)
    error: BaseException | None = None
    try:
        refuse_unless_resumable()  # again under the claim: another resume may have run
        with process_state_kept():
            try:
                continuation.continue_run(execution_id)
            except Exception as exc:  # noqa: BLE001 - the flow's own error, for the handle
                error = exc
    finally:
        continuation.release(tag)
    return FlowHandle(flow, execution_id, local_error=error)
