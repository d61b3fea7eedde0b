"""Flows as ZenML dynamic pipelines, checkpoints as ZenML steps.

A flow run is one ZenML dynamic pipeline run whose entry is :func:`kitaru_flow`.
Everything the run needs travels in the run itself, because an orchestrator
(Kubernetes, Vertex, ``local_docker``, ...) runs the entry in a fresh process
from the snapshot: the flow's import path (a ZenML source), its arguments as
JSON, the model registry snapshot (names only) and, for a replay, the original
execution ID. The local orchestrator takes the same path in the calling process.
The flow's result is persisted as the output of a last step, so the caller
reads it from the store wherever the run happened.

Inline checkpoints run as ZenML steps in the process that runs the flow body.
Their arguments (which may hold credentials) are never stored: the step finds
its body in ``inline_calls``, a table of that process, by run and invocation ID.
In a fresh run on the embedded store, kitaru writes the step runs of the inline
checkpoints after the first itself, as ZenML writes them (see ``lean_steps``).

This module imports zenml at top level; import it only after
:func:`kitaru._zenml.client.get_client` has configured ZenML.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from zenml import pipeline, step
from zenml.config.retry_config import StepRetryConfig
from zenml.enums import StepRuntime
from zenml.exceptions import RunInterruptedException, RunStoppedException

from kitaru._config import per_process_cache

# Importing step_code shows the user's code in ZenML (see there).
from kitaru._zenml import inline_calls, lean_steps, lean_store, step_code
from kitaru.runtime.inline import inline_json
from kitaru.runtime.interrupts import register_interrupt
from kitaru.runtime.record import RECORD_VERSION, CheckpointRecord
from kitaru.runtime.replay import ReplayPlan

_LEAN_STEP: dict[str, Any] = {
    "enable_cache": False,
    "enable_step_logs": False,
    "enable_artifact_metadata": False,
    "enable_artifact_visualization": True,  # small outputs, with a server (output_views)
}
_LEAN_PIPELINE: dict[str, Any] = {
    "dynamic": True,
    # A failed checkpoint fails the flow only where the flow body raises its error, as
    # in plain Python (one it catches does not); kitaru collects every submitted
    # checkpoint before the flow ends (see ``kitaru._run.flow_exec``).
    "execution_mode": "continue_on_failure",
    "enable_cache": False,
    "enable_step_logs": False,
    "enable_artifact_metadata": False,
    "enable_pipeline_logs": False,
    "enable_heartbeat": False,
}

# Continuing a run in place (``kitaru executions retry``) re-runs a step left running
# by a dead process only while the step has ZenML retries left, each continuation
# spending one. This budget is kept for that: a failing body never spends it (see
# ``_BodyFailed``); ``retries=N`` is counted by kitaru itself.
CONTINUATIONS = StepRetryConfig(max_retries=100, delay=0, backoff=1)

T = TypeVar("T")
# ZenML's handler turns SIGINT during a step into this, where SIGINT is ignored.
register_interrupt(RunInterruptedException)


class _BodyFailed(RunStoppedException):
    """A checkpoint body failed: ZenML records the step failed and does not retry it.

    ZenML retries a failing step while it has retries left, except on
    ``RunStoppedException``. The body's own (redacted) error travels beside it, in
    the call, and is what the flow sees.
    """


# The step run whose inline checkpoint body is running in this context.
_step_run: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kitaru_step_run", default=None
)
_pipelines_lock = threading.Lock()


@step(retry=CONTINUATIONS, **_LEAN_STEP)
def kitaru_checkpoint() -> Any:
    """ZenML step that runs one inline checkpoint body (waiting in ``inline_calls``).

    The body is found by run and invocation ID, never by a step parameter: a
    continued run reuses the step's recorded configuration, parameters included.
    """
    from zenml import get_step_context

    context = get_step_context()
    key = f"{context.pipeline_run.id}/{context.step_run.name}"
    try:
        call = inline_calls.take(key)
    except KeyError:
        raise _BodyFailed(f"No checkpoint body is waiting for step {key} here.") from None
    return _run_call(call, str(context.step_run.id))


def _run_call(call: inline_calls.InlineCall, step_run_id: str) -> Any:
    """Run a call's body as step run ``step_run_id``; ``_BodyFailed`` if it fails."""

    def body() -> Any:
        # The body may run in the caller's copied context, where ZenML's step
        # context is not visible: say here which step run its record belongs to.
        token = _step_run.set(step_run_id)
        try:
            return call.runner()
        finally:
            _step_run.reset(token)

    try:
        value = call.context.run(body) if call.context is not None else body()
    except BaseException as exc:  # noqa: BLE001 - any body failure is the call's to report
        # A Ctrl-C too: ZenML would otherwise retry the step, and lose the interrupt.
        call.error = exc
        raise _BodyFailed(f"{type(exc).__name__}: {exc}"[:2000]) from None
    call.result = value
    return value


@step(runtime=StepRuntime.ISOLATED, **_LEAN_STEP)
def kitaru_isolated_checkpoint(
    checkpoint: str, args: list[Any], kwargs: dict[str, Any], context: dict[str, Any]
) -> Any:
    """ZenML step that runs an isolated checkpoint's body in the orchestrator's own process.

    ``checkpoint`` is the ZenML source of the @checkpoint object; what the body
    recorded (secret reads, LLM calls, attempts; never values) goes on the step's
    metadata for the flow to fold into its audit.
    """
    from zenml.utils import source_utils

    from kitaru._zenml import client

    client.adopt_running_client()
    target = source_utils.load(checkpoint)
    value, error = target.run_isolated(tuple(args), kwargs, context)
    if error is not None:
        raise error
    return value


def record_checkpoint(metadata: dict[str, Any]) -> None:
    """Write a checkpoint call's record (flat metadata cards) on the running step."""
    from zenml import get_step_context

    from kitaru._zenml import runs, step_logs

    step_run_id = _step_run.get()
    if step_run_id is None:
        try:
            step_run_id = str(get_step_context().step_run.id)
        except RuntimeError:
            return  # not inside a ZenML step (nothing to attach it to)
    if not lean_store.record(step_run_id, metadata):
        runs.record_step(step_run_id, metadata)
    step_logs.attach_output(step_run_id, metadata)


def can_run_isolated() -> bool:
    """True if the orchestrator running this flow can run isolated steps."""
    from zenml.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext

    ctx = DynamicPipelineRunContext.get()
    return bool(ctx is not None and ctx.runner.orchestrator.can_run_isolated_steps)


def call_isolated(
    invocation_id: str,
    checkpoint: str,
    args: list[Any],
    kwargs: dict[str, Any],
    context: dict[str, Any],
) -> tuple[Any, CheckpointRecord | None, BaseException | None]:
    """Run ``checkpoint`` as isolated step ``invocation_id``: (value, its record, its error)."""
    from kitaru._zenml import runs

    try:
        artifact = kitaru_isolated_checkpoint(checkpoint, args, kwargs, context, id=invocation_id)
    except Exception as exc:  # noqa: BLE001 - the step's own record says what failed
        return None, runs.step_record(context["execution_id"], invocation_id), exc
    record = runs.step_record(context["execution_id"], invocation_id)
    return artifact.load(), record, None


def kitaru_flow(
    flow: str,
    inputs: dict[str, Any],
    registry: dict[str, Any] | None = None,
    replay_of: str | None = None,
    source_root: str | None = None,
    replay: dict[str, Any] | None = None,
) -> None:
    """Entry of every kitaru flow's ZenML dynamic pipeline, in whatever process runs it.

    ``flow`` is the ZenML source of the ``@flow`` object; loading it imports the
    user's module afresh where the run is not in the caller's process, so the
    import-time guard applies there too. ``source_root`` is the caller's project
    root, kept on the run so ``kitaru executions replay`` can import the flow.
    """
    from zenml.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext
    from zenml.utils import source_utils

    from kitaru._zenml import client, flow_sources, run_record, run_state, runs

    client.adopt_running_client()
    ctx = DynamicPipelineRunContext.get()
    if ctx is None or ctx.run is None:
        raise RuntimeError("kitaru_flow runs only as the entry of a ZenML dynamic pipeline run.")
    run_id = str(ctx.run.id)
    # An earlier runner on this run means this is a continuation (a retry in place).
    continuing = bool(run_state.run_meta(ctx.run, run_state.RUNNER_KEY))
    runner = run_state.Runner(run_id)
    runner.start(
        {
            "version": RECORD_VERSION,
            "flow": ctx.snapshot.pipeline_configuration.name,
            "replayed_from": replay_of,
        }
    )
    with run_state.sigterm_recorded(runner):
        try:
            target = flow_sources.load_flow_object(flow, source_utils.load)
        except Exception as exc:
            line, failure = flow_sources.load_failure(exc)
            runner.end({"status": "failed", "error": line})
            if failure is exc:
                raise
            raise failure from None
        retry = run_record.retry_plan(runs.load_run(run_id)) if continuing else None
        if replay is None and replay_of is not None:
            replay = {"of": replay_of}  # a run started before cuts existed
        # A fresh run's inline steps can be written by kitaru itself; a continued or
        # replayed one reuses steps, which only ZenML's own path does.
        lean_steps.begin(run_id, fresh=not continuing and replay is None and replay_of is None)
        try:
            result = target.run_in_orchestrator(
                run_state.FlowAttempt(run_id, inputs, registry, replay, runner, retry)
            )
            if inline_json(result) is None:
                # Not kept inline in the flow's record (see runtime.inline): persist it as
                # an artifact. A fresh invocation ID per run, so a replay never reuses it.
                result_id = f"{runs.RESULT_STEP_PREFIX}{uuid.uuid4().hex[:12]}"
                call_checkpoint(run_id, result_id, lambda: result)
        finally:
            lean_steps.end(run_id)


_pipelines: dict[str, Any] = per_process_cache({})


def _pipeline_for(name: str) -> Any:
    # One template per flow name; every run works on its own copy
    # (``with_options``), because ZenML keeps a call's parameters on the object.
    with _pipelines_lock:
        p = _pipelines.get(name)
        if p is None:
            decorate: Any = pipeline(name=name, **_LEAN_PIPELINE)
            p = decorate(kitaru_flow)
            _pipelines[name] = p
    return p


def start_flow(
    name: str, run_name: str, params: dict[str, Any], settings: dict[str, Any] | None = None
) -> Any:
    """Start a run of flow ``name``; returns ZenML's run once it is submitted.

    ``settings`` are the stack's ZenML settings (see ``Orchestrator.run_settings``).
    On a synchronous orchestrator (the local one) the run has ended by then.
    """
    options: dict[str, Any] = {"run_name": run_name}
    if settings:
        options["settings"] = settings
    return _pipeline_for(name).with_options(**options)(**params)


def replay_flow(
    name: str,
    run_name: str,
    plan: ReplayPlan,
    params: dict[str, Any],
    settings: dict[str, Any] | None = None,
) -> Any:
    """Like :func:`start_flow`, as a ZenML replay of ``plan.original_id``.

    ZenML skips the steps the plan reuses (those that completed before the cut)
    and hands back their recorded outputs; kitaru checks in the run that each
    such call is the same call (see ``kitaru.runtime.replay``).
    """
    options: dict[str, Any] = {"run_name": run_name}
    if settings:
        options["settings"] = settings
    return (
        _pipeline_for(name)
        .with_options(**options)
        .replay(
            pipeline_run=uuid.UUID(plan.original_id),
            skip=sorted(plan.reusable),
            input_overrides=params,
        )
    )


def call_checkpoint(execution_id: str, invocation_id: str, runner: Callable[[], Any]) -> Any:
    """Run ``runner`` as ZenML step ``invocation_id``; return its (persisted) output."""
    call = inline_calls.InlineCall(runner)
    writer = lean_steps.writer(execution_id)
    if writer is not None:
        lean = writer.start(invocation_id, step_code.noted_text(execution_id, invocation_id))
        if lean is not None:
            try:
                return lean.run(functools.partial(_run_call, call), kitaru_checkpoint.entrypoint)
            except _BodyFailed:
                return call.outcome(lambda: None)  # raises the body's own error
    key = inline_calls.put(execution_id, invocation_id, call)
    artifact: Any = None
    try:
        artifact = kitaru_checkpoint(id=invocation_id)
    except _BodyFailed as exc:
        if call.error is None:
            raise RuntimeError(str(exc)) from None
    finally:
        inline_calls.discard(key)
    if call.error is None:
        lean_steps.learn(execution_id, invocation_id)
    return call.outcome(lambda: artifact.load())  # a reused output is loaded


class CheckpointFuture(Generic[T]):
    """A checkpoint submitted to run concurrently; ``result()`` waits for it."""

    def __init__(
        self, call: inline_calls.InlineCall, key: str, future: Any, invocation_id: str
    ) -> None:
        self._call = call
        self._key = key
        self._future = future
        self.invocation_id = invocation_id
        self._done = False
        self._value: Any = None
        self.observed = False  # result() was asked for (its error, if any, was raised)

    def result(self) -> T:
        """Wait for the checkpoint and return its output (re-raises its error)."""
        self.observed = True
        if self._done:
            return self._value  # type: ignore[no-any-return]
        call = self._call
        try:
            self._future.wait()
        except Exception:
            if call.error is None:
                raise  # not the body's failure (the body's own error is on the call)
        finally:
            inline_calls.discard(self._key)
        value = call.outcome(self._future.load)
        self._value, self._done = value, True
        return value  # type: ignore[no-any-return]

    def done(self) -> bool:
        """True once the checkpoint has finished."""
        return self._done or not self._future.running()

    def __repr__(self) -> str:
        return f"CheckpointFuture({self.invocation_id!r}, done={self.done()})"


def submit_checkpoint(
    execution_id: str, invocation_id: str, runner: Callable[[], T]
) -> CheckpointFuture[T]:
    """Submit ``runner`` as ZenML step ``invocation_id`` to ZenML's worker threads.

    ZenML's worker threads do not inherit the caller's context variables, so the
    caller's context is copied here and the body runs inside it.
    """
    call = inline_calls.InlineCall(runner, context=contextvars.copy_context())
    key = inline_calls.put(execution_id, invocation_id, call)
    try:
        future = kitaru_checkpoint.submit(id=invocation_id)
    except BaseException:
        inline_calls.discard(key)
        raise
    return CheckpointFuture(call, key, future, invocation_id)
