"""Waits as ZenML run wait conditions: created and polled by the flow, answered from anywhere.

A ``kitaru.wait()`` is one wait condition of the execution's run, named after
the wait. ZenML's dynamic runner polls it up to the timeout, then marks the
run ``paused`` and releases the process (``RunPaused`` ends the flow body);
kitaru calls that status ``waiting``. An answer is a ``continue`` resolution
whose result is the value; an abort is a ``continue`` resolution carrying
:class:`WaitAbort` (ZenML's own ``abort`` resolution stops the whole run,
while kitaru raises ``WaitAbortedError`` in the flow, which may catch it).
So the condition's ZenML schema is ``WaitAbort | <the wait's schema>``; the
wait's own JSON Schema is kept in the condition's metadata for readers.

This module imports zenml at top level; import it only after
:func:`kitaru._zenml.client.get_client` has configured ZenML.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field
from zenml.enums import RunWaitConditionResolution, RunWaitConditionStatus, RunWaitConditionType
from zenml.models import RunWaitConditionRequest
from zenml.utils import pydantic_utils

from kitaru._zenml import wait_views
from kitaru._zenml.client import get_client, import_zenml
from kitaru.errors import FlowWaitingError

SCHEMA_KEY = wait_views.SCHEMA_KEY
SECRETS_KEY = wait_views.SECRETS_KEY
ANSWER_KEY = wait_views.ANSWER_KEY
# ZenML polls the condition this often (seconds) while the runner holds the process.
POLL_INTERVAL = 1


class WaitAbort(BaseModel):
    """The result that marks a wait as aborted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kitaru_abort: Literal[True] = True


ABORT_RESULT = wait_views.ABORT_RESULT


def is_release(error: BaseException) -> bool:
    """True for the exception that ends a flow body released while it waits."""
    # Imported here: the dynamic runner is heavy, and readers of runs never need it.
    from zenml.execution.pipeline.dynamic.runner import RunPaused

    return isinstance(error, RunPaused)


def stored_type(schema: Any) -> Any:
    """The type ZenML validates a result against: an abort, or a value of ``schema``."""
    # typing.Union, not ``|``: ``schema`` may be any typing form pydantic takes.
    if schema is None:
        return Optional[WaitAbort]  # noqa: UP045
    # Abort first, so a dict-shaped schema does not swallow the abort marker.
    return Annotated[Union[WaitAbort, schema], Field(union_mode="left_to_right")]  # noqa: UP007


def _condition_request(
    run: Any,
    name: str,
    schema: Any,
    question: str | None,
    metadata: dict[str, Any],
) -> RunWaitConditionRequest:
    # The same request ZenML's runner builds in ``wait()``, so creating it here
    # first (to answer it on a terminal) is idempotent with the runner's create.
    return RunWaitConditionRequest(
        project=run.project_id,
        run=run.id,
        name=name,
        type=RunWaitConditionType.EXTERNAL_INPUT,
        question=question,
        metadata=metadata,
        data_schema=pydantic_utils.get_json_schema_for_type(stored_type(schema)),
    )


def wait_in_run(
    name: str,
    schema: Any,
    question: str | None,
    metadata: dict[str, Any],
    timeout: int,
    ask: Callable[[], Any] | None,
) -> Any:
    """Wait for wait ``name`` of the running flow; returns the validated value or a WaitAbort.

    ``metadata`` already holds kitaru's own keys. ``ask`` (on a terminal, or a
    replay's recorded answer) returns the answer as JSON, or raises EOFError to
    fall back to polling; it is called only while the condition is pending.
    Raises ZenML's ``RunPaused`` when the timeout passes with no answer (see
    :func:`is_release`).
    """
    import_zenml()
    from zenml.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext

    ctx = DynamicPipelineRunContext.get()
    if ctx is None or ctx.run is None:
        raise RuntimeError("kitaru.wait() runs only inside a ZenML dynamic pipeline run.")
    store = get_client().zen_store
    if ask is not None:
        condition = store.create_run_wait_condition(
            _condition_request(ctx.run, name, schema, question, metadata)
        )
        if condition.status == RunWaitConditionStatus.PENDING:
            try:
                given = ask()
            except EOFError:
                pass  # the terminal closed: wait for an answer from elsewhere
            else:
                answer(str(condition.id), given)
    return ctx.runner.wait(
        schema=stored_type(schema),
        timeout=timeout,
        poll_interval=POLL_INTERVAL,
        question=question,
        metadata=metadata,
        name=name,
    )


def _user_name(user_id: Any) -> str:
    try:
        return str(get_client().zen_store.get_user(user_id).name)
    except Exception:  # noqa: BLE001 - a deleted user: keep its ID
        return str(user_id)


def _describe(condition: Any) -> dict[str, Any]:
    return wait_views.describe(condition, _user_name)


def waits_of(execution_id: str, *, pending_only: bool = False) -> list[dict[str, Any]]:
    """The waits of an execution, oldest first, as plain dicts (``secrets``: names read)."""
    kwargs: dict[str, Any] = (
        {"status": RunWaitConditionStatus.PENDING.value} if pending_only else {}
    )
    page = get_client().list_run_wait_conditions(
        pipeline_run=uuid.UUID(execution_id),
        sort_by="asc:created",
        size=1000,
        hydrate=True,
        **kwargs,
    )
    return [_describe(c) for c in page.items]


def answer(condition_id: str, result: Any) -> None:
    """Resolve a pending wait with ``result`` (a value, or :data:`ABORT_RESULT`).

    Raises ValueError when the result does not match the condition's schema,
    and ZenML's IllegalOperationError when it was answered meanwhile.
    """
    import_zenml()
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    client = get_client()
    user = client.active_user
    client.create_run_metadata(
        metadata={ANSWER_KEY: {"by_id": str(user.id), "by": user.name}},
        resources=[
            RunMetadataResource(
                id=uuid.UUID(condition_id), type=MetadataResourceTypes.WAIT_CONDITION
            )
        ],
    )
    client.resolve_run_wait_condition(
        uuid.UUID(condition_id), resolution=RunWaitConditionResolution.CONTINUE, result=result
    )


def waiting_error(execution_id: str, flow: str) -> FlowWaitingError:
    """The error ``FlowHandle.wait()`` raises for an execution released while it waits."""
    pending = tuple(w["name"] for w in waits_of(execution_id, pending_only=True))
    return FlowWaitingError(execution_id=execution_id, flow=flow, waits=pending)


def recorded_result(execution_id: str, name: str) -> tuple[bool, Any]:
    """(True, the answer as JSON) if wait ``name`` of ``execution_id`` was answered."""
    page = get_client().list_run_wait_conditions(
        pipeline_run=uuid.UUID(execution_id),
        name=name,
        status=RunWaitConditionStatus.RESOLVED.value,
        hydrate=True,
    )
    for condition in page.items:
        if condition.name == name:
            return True, condition.result
    return False, None


def matches_schema(schema: dict[str, Any], value: Any) -> bool:
    """True if ``value`` matches JSON Schema ``schema``."""
    from zenml.utils import yaml_utils

    try:
        yaml_utils.validate_json_schema_value(value, schema, fail_if_library_missing=True)
    except ValueError:
        return False
    return True


def pending_waits(limit: int) -> list[dict[str, Any]]:
    """Pending waits of every execution, newest first, with their execution and flow."""
    page = get_client().list_run_wait_conditions(
        status=RunWaitConditionStatus.PENDING.value,
        sort_by="desc:created",
        size=max(1, min(limit, 1000)),
        hydrate=True,
    )
    out = []
    for condition in page.items:
        item = _describe(condition)
        run = condition.run
        item["execution_id"] = str(run.id)
        item["flow"] = run.pipeline.name if run.pipeline is not None else None
        out.append(item)
    return out
