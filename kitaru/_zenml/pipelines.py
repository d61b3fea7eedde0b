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
from typing import Any

from zenml import pipeline, step

_LEAN_STEP = {
    "enable_cache": False,
    "enable_step_logs": False,
    "enable_artifact_metadata": False,
    "enable_artifact_visualization": False,
}
_LEAN_PIPELINE = {
    "dynamic": True,
    "enable_cache": False,
    "enable_step_logs": False,
    "enable_artifact_metadata": False,
    "enable_pipeline_logs": False,
    "enable_heartbeat": False,
}

_MISSING = object()


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


def _get(key: str) -> _Pending:
    with _pending_lock:
        return _pending[key]


@step(**_LEAN_STEP)  # type: ignore[misc]
def kitaru_checkpoint(call_key: str) -> Any:
    """ZenML step that runs one checkpoint body (waiting in ``_pending``)."""
    call = _get(call_key)
    value = call.context.run(call.runner) if call.context is not None else call.runner()
    call.result = value
    return value


def kitaru_flow(flow_key: str) -> None:
    """Entry of every kitaru flow's ZenML dynamic pipeline."""
    from zenml.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext

    call = _get(flow_key)
    ctx = DynamicPipelineRunContext.get()
    run_id = str(ctx.run.id) if ctx is not None and ctx.run is not None else uuid.uuid4().hex
    call.run_id = run_id
    call.result = call.runner(run_id)


_pipelines: dict[str, Any] = {}


def _pipeline_for(name: str) -> Any:
    p = _pipelines.get(name)
    if p is None:
        p = pipeline(name=name, **_LEAN_PIPELINE)(kitaru_flow)
        _pipelines[name] = p
    return p


@dataclass
class FlowOutcome:
    """How one flow run ended."""

    run_id: str | None
    result: Any = None
    error: BaseException | None = None


def run_flow(name: str, runner: Callable[[str], Any]) -> FlowOutcome:
    """Run ``runner(execution_id)`` as the body of a ZenML dynamic pipeline ``name``."""
    key = _put(_Pending(runner))
    try:
        _pipeline_for(name)(flow_key=key)
    except BaseException as exc:
        call = _take(key)
        return FlowOutcome(run_id=call.run_id, error=exc)
    call = _take(key)
    return FlowOutcome(run_id=call.run_id, result=None if call.result is _MISSING else call.result)


def call_checkpoint(invocation_id: str, runner: Callable[[], Any]) -> Any:
    """Run ``runner`` as ZenML step ``invocation_id``; return its (persisted) output."""
    key = _put(_Pending(runner))
    try:
        artifact = kitaru_checkpoint(key, id=invocation_id)
    finally:
        call = _take(key)
    if call.result is not _MISSING:
        return call.result
    return artifact.load()  # not executed here (reused from an earlier run)


class CheckpointFuture:
    """A checkpoint submitted to run concurrently; ``result()`` waits for it."""

    def __init__(self, key: str, future: Any, invocation_id: str) -> None:
        self._key = key
        self._future = future
        self.invocation_id = invocation_id
        self._done = False
        self._value: Any = _MISSING

    def result(self) -> Any:
        """Wait for the checkpoint and return its output (re-raises its error)."""
        if self._done:
            return self._value
        try:
            self._future.wait()
            call = _get(self._key)
            value = call.result if call.result is not _MISSING else self._future.load()
        finally:
            with _pending_lock:
                _pending.pop(self._key, None)
        self._value, self._done = value, True
        return value

    def done(self) -> bool:
        """True once the checkpoint has finished."""
        return self._done or not self._future.running()

    def __repr__(self) -> str:
        return f"CheckpointFuture({self.invocation_id!r}, done={self.done()})"


def submit_checkpoint(invocation_id: str, runner: Callable[[], Any]) -> CheckpointFuture:
    """Submit ``runner`` as ZenML step ``invocation_id`` to ZenML's worker threads.

    ZenML's worker threads do not inherit the caller's context variables, so the
    caller's context is copied here and the body runs inside it.
    """
    key = _put(_Pending(runner, context=contextvars.copy_context()))
    try:
        future = kitaru_checkpoint.submit(key, id=invocation_id)
    except BaseException:
        with _pending_lock:
            _pending.pop(key, None)
        raise
    return CheckpointFuture(key, future, invocation_id)
