"""Flows as ZenML dynamic pipelines, checkpoints as ZenML steps.

One module-level step (``kitaru_checkpoint``) and one pipeline entry
(``kitaru_flow``) serve every flow and checkpoint. They receive only a call key;
the user's function, its arguments and its context wait in this process's
``_pending`` table. So arguments (which may hold credentials) are never written
to the store, and the only thing ZenML persists for a checkpoint is its output
artifact, which kitaru checks for secret values before returning it.

Each checkpoint call gets a stable invocation ID (``name``, ``name_2``, ... per
checkpoint name), which is what a replay matches on.

This module imports zenml at top level; import it only after
:func:`kitaru._zenml.client.get_client` has configured ZenML.
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from zenml import pipeline, step

_LEAN_STEP: dict[str, Any] = {
    "enable_cache": False,
    "enable_step_logs": False,
    "enable_artifact_metadata": False,
    "enable_artifact_visualization": False,
}
_LEAN_PIPELINE: dict[str, Any] = {
    "dynamic": True,
    # A failed checkpoint fails the flow only where its error is raised in the flow
    # body (a sync call, or ``future.result()``), as in plain Python: an error the
    # flow catches does not fail the run. kitaru itself collects every submitted
    # checkpoint before the flow ends (see ``kitaru.flow``), so none goes unnoticed.
    "execution_mode": "continue_on_failure",
    "enable_cache": False,
    "enable_step_logs": False,
    "enable_artifact_metadata": False,
    "enable_pipeline_logs": False,
    "enable_heartbeat": False,
}

_MISSING = object()
T = TypeVar("T")


@dataclass
class _Pending:
    runner: Callable[..., Any]
    context: contextvars.Context | None = None
    result: Any = _MISSING
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_pending: dict[str, _Pending] = {}
_pending_lock = threading.Lock()


def _put(p: _Pending) -> str:
    key = uuid.uuid4().hex
    with _pending_lock:
        _pending[key] = p
    return key


def _take(key: str) -> _Pending:
    with _pending_lock:
        return _pending.pop(key)


def _discard(key: str) -> None:
    with _pending_lock:
        _pending.pop(key, None)


@step(**_LEAN_STEP)  # type: ignore[untyped-decorator]
def kitaru_checkpoint(call_key: str) -> Any:
    """ZenML step that runs one checkpoint body (waiting in ``_pending``)."""
    call = _take(call_key)
    value = call.context.run(call.runner) if call.context is not None else call.runner()
    call.result = value
    return value


def kitaru_flow(flow_key: str) -> None:
    """Entry of every kitaru flow's ZenML dynamic pipeline."""
    from zenml.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext

    call = _take(flow_key)
    ctx = DynamicPipelineRunContext.get()
    run_id = str(ctx.run.id) if ctx is not None and ctx.run is not None else uuid.uuid4().hex
    call.run_id = run_id
    call.result = call.runner(run_id)


_pipelines: dict[str, Any] = {}


def _pipeline_for(name: str) -> Any:
    p = _pipelines.get(name)
    if p is None:
        decorate: Any = pipeline(name=name, **_LEAN_PIPELINE)
        p = decorate(kitaru_flow)
        _pipelines[name] = p
    return p


@dataclass
class FlowOutcome:
    """How one flow run ended."""

    run_id: str | None
    result: Any = None
    error: BaseException | None = None


def _launch(runner: Callable[[str], Any], start: Callable[[str], Any]) -> FlowOutcome:
    call = _Pending(runner)
    key = _put(call)
    try:
        start(key)
    except BaseException as exc:  # noqa: BLE001 - the handle carries the flow's error
        return FlowOutcome(run_id=call.run_id, error=exc)
    finally:
        _discard(key)
    return FlowOutcome(run_id=call.run_id, result=None if call.result is _MISSING else call.result)


def run_flow(name: str, runner: Callable[[str], Any]) -> FlowOutcome:
    """Run ``runner(execution_id)`` as the body of a ZenML dynamic pipeline ``name``."""
    return _launch(runner, lambda key: _pipeline_for(name)(flow_key=key))


def replay_flow(name: str, original_run_id: str, runner: Callable[[str], Any]) -> FlowOutcome:
    """Like :func:`run_flow`, as a ZenML replay of ``original_run_id``.

    ZenML skips every step whose invocation ID succeeded in the original run and
    hands back its recorded output; kitaru has checked beforehand that each such
    call is the same call (see ``kitaru.runtime.replay``).
    """
    return _launch(
        runner,
        lambda key: _pipeline_for(name).replay(
            pipeline_run=uuid.UUID(original_run_id),
            skip_successful_steps=True,
            input_overrides={"flow_key": key},
        ),
    )


def call_checkpoint(invocation_id: str, runner: Callable[[], Any]) -> Any:
    """Run ``runner`` as ZenML step ``invocation_id``; return its (persisted) output."""
    call = _Pending(runner)
    key = _put(call)
    try:
        artifact = kitaru_checkpoint(key, id=invocation_id)
    finally:
        _discard(key)
    if call.result is not _MISSING:
        return call.result
    return artifact.load()  # not executed here (reused from an earlier run)


class CheckpointFuture(Generic[T]):
    """A checkpoint submitted to run concurrently; ``result()`` waits for it."""

    def __init__(self, call: _Pending, key: str, future: Any, invocation_id: str) -> None:
        self._call = call
        self._key = key
        self._future = future
        self.invocation_id = invocation_id
        self._done = False
        self._value: Any = _MISSING
        self.observed = False  # result() was asked for (its error, if any, was raised)

    def result(self) -> T:
        """Wait for the checkpoint and return its output (re-raises its error)."""
        self.observed = True
        if self._done:
            return self._value  # type: ignore[no-any-return]
        try:
            self._future.wait()
            call = self._call
            value = call.result if call.result is not _MISSING else self._future.load()
        finally:
            _discard(self._key)
        self._value, self._done = value, True
        return value  # type: ignore[no-any-return]

    def done(self) -> bool:
        """True once the checkpoint has finished."""
        return self._done or not self._future.running()

    def __repr__(self) -> str:
        return f"CheckpointFuture({self.invocation_id!r}, done={self.done()})"


def submit_checkpoint(invocation_id: str, runner: Callable[[], T]) -> CheckpointFuture[T]:
    """Submit ``runner`` as ZenML step ``invocation_id`` to ZenML's worker threads.

    ZenML's worker threads do not inherit the caller's context variables, so the
    caller's context is copied here and the body runs inside it.
    """
    call = _Pending(runner, context=contextvars.copy_context())
    key = _put(call)
    try:
        future = kitaru_checkpoint.submit(key, id=invocation_id)
    except BaseException:
        _discard(key)
        raise
    return CheckpointFuture(call, key, future, invocation_id)
