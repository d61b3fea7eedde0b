"""The flow body's side of a run: executing it as one execution, in whatever process runs it.

``kitaru_flow`` (the ZenML pipeline entry) calls :func:`execute_flow` there; it
rebuilds the runtime scope from the run's parameters, runs the body, and leaves
how this attempt ended on the run (``runner.end``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kitaru._run.bodies import call_body, redact_exception
from kitaru._run.flow_support import end_record, plan_replay
from kitaru.errors import SecretLeakError
from kitaru.runtime import ExecutionScope, execution_scope, register_boundary
from kitaru.runtime.capture import capturing
from kitaru.runtime.inline import inline_json

if TYPE_CHECKING:
    from kitaru._zenml.run_state import FlowAttempt


def run_flow_body(
    scope: ExecutionScope, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    with execution_scope(scope):
        failure: Exception | None = None
        try:
            result = call_body(fn, args, kwargs)
            # Structured concurrency: every submitted checkpoint ends with its flow,
            # and a failure nobody asked for (no ``result()``) fails the flow.
            for future in list(scope.futures):
                if not future.observed:
                    future.result()
        except Exception as exc:  # noqa: BLE001 - user code may raise anything
            failure = exc
        if failure is not None:
            # Raised outside the ``except`` block, so a redacted replacement does
            # not carry the original (unredacted) exception as its context.
            raise redact_exception(failure, scope.redactor)
        match = scope.redactor.find_in_object(result)
        if match is not None:
            raise SecretLeakError(
                where=f"Result of flow {scope.flow_name!r}", secret=match.secret, key=match.key
            )
        return result


register_boundary(run_flow_body.__code__)


def execute_flow(name: str, fn: Callable[..., Any], attempt: FlowAttempt) -> Any:
    """Run the body of flow ``name`` as ``attempt`` says (see :class:`FlowAttempt`)."""
    from kitaru._store import secret_store
    from kitaru._store.fingerprint_key import fingerprint_key

    started = time.time()
    scope = ExecutionScope(
        flow_name=name,
        execution_id=attempt.execution_id,
        fetch_secret=secret_store.get_secret,
        fingerprint_key=fingerprint_key,
    )
    scope.model_registry = attempt.registry
    scope.retry = attempt.retry
    scope.stop_requested = attempt.runner.cancel_requested
    error: BaseException | None = None
    result: Any = None
    try:
        if attempt.replay is not None:
            scope.replay = plan_replay(name, attempt.replay)
        inputs = attempt.inputs
        args, kwargs = tuple(inputs.get("args", [])), dict(inputs.get("kwargs", {}))
        with capturing():
            result = run_flow_body(scope, fn, args, kwargs)
    except BaseException as exc:
        error = exc
        raise
    finally:
        result_json = inline_json(result) if error is None else None
        attempt.runner.end(end_record(scope, error, started, result_json))
    return result
