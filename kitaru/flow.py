"""``@flow``: a durable job, run as a ZenML dynamic pipeline.

``my_flow.run(...)`` starts an execution and returns a :class:`FlowHandle`;
``my_flow(...)`` is ``my_flow.run(...).wait()``. What travels with the run is
the flow's import path, its arguments as JSON and the model registry snapshot
(names only); the orchestrator's process imports the flow and rebuilds the
runtime context from those (see ``kitaru._zenml.pipelines``). On the default
local orchestrator that process is the caller's, and ``run`` returns when the
execution has finished.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

import wrapt

from kitaru._run.decorator_checks import validate_function, validate_name
from kitaru._run.flow_exec import execute_flow
from kitaru._run.flow_support import (
    check_inputs,
    plan_replay,
    refuse_start_at_import_time,
    registry_snapshot,
)
from kitaru._run.handle import FlowHandle, interrupted
from kitaru._run.progress import Reporter
from kitaru._run.progress import enabled as progress_enabled
from kitaru._zenml.process_env import keeping_environment
from kitaru._zenml.process_state import process_state_kept
from kitaru.errors import (
    KitaruValidationError,
    ReplayError,
)
from kitaru.errors.one_line import uncaught_as_one_line
from kitaru.runtime import (
    refuse_nested_flow,
)
from kitaru.runtime.interrupts import is_interrupt
from kitaru.runtime.progress import reporting_to

if TYPE_CHECKING:
    from kitaru._zenml.run_state import FlowAttempt
    from kitaru.runtime.replay import ReplayPlan

P = ParamSpec("P")
R = TypeVar("R")


class _FlowSpec:
    def __init__(self, name: str) -> None:
        self.name = name

    @keeping_environment
    def start(
        self,
        target: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        stack: str | None = None,
        replay: ReplayPlan | None = None,
        progress: bool | None = None,
    ) -> FlowHandle[Any]:
        """Submit a run of this flow (``target`` is the @flow object) and return its handle.

        ``replay`` makes it a replay: its plan says which recorded calls are reused.
        """
        refuse_nested_flow(self.name)
        refuse_start_at_import_time(self.name)
        inputs = check_inputs(self.name, args, kwargs)
        from kitaru._zenml.client import get_client

        get_client()  # first: it imports zenml without letting it touch the process
        from kitaru._zenml import flow_sources, pipelines, runs, stacks, submit_errors

        reporter = Reporter(self.name) if progress_enabled(progress) else None
        began = time.monotonic()
        with stacks.selected(stack) as orchestrator, reporting_to(reporter):
            root = flow_sources.source_root()
            found = flow_sources.resolve_flow_source(target)
            local_key = None
            if (found is None or not found.shipped) and not orchestrator.runs_in_caller:
                raise KitaruValidationError(
                    f"Flow {self.name!r} cannot run on stack {orchestrator.stack!r}: its "
                    f"orchestrator ({orchestrator.flavor}) runs flows in a fresh process "
                    "that imports them from the project's code, and this flow is "
                    + (
                        "defined inside a function or bound to an instance"
                        if found is None
                        else f"in a file outside the project root ({root})"
                    )
                    + ". Define it at module level in a file under the project root "
                    "(KITARU_SOURCE_ROOT, default: the main script's folder).",
                    field="flow",
                )
            if found is None:
                source = local_key = flow_sources.register_local_flow(target)
            else:
                source = found.path
            params = {
                "flow": source,
                "inputs": inputs,
                "registry": registry_snapshot(),
                "replay_of": replay.original_id if replay is not None else None,
                "replay": None
                if replay is None
                else {"of": replay.original_id, "from": replay.cut, "outputs": replay.outputs},
                "source_root": root,
            }
            run_name = f"{self.name}-{uuid.uuid4().hex[:16]}"
            error: BaseException | None = None
            run: Any = None
            if reporter is not None:
                reporter.flow_started(orchestrator.stack)
            try:
                if replay is None:
                    run = pipelines.start_flow(
                        self.name, run_name, params, orchestrator.run_settings()
                    )
                else:
                    run = pipelines.replay_flow(
                        self.name, run_name, replay, params, orchestrator.run_settings()
                    )
            except BaseException as exc:  # noqa: BLE001 - the handle carries the flow's error
                error = exc
            finally:
                if local_key is not None:
                    flow_sources.forget_local_flow(local_key)
        execution_id = str(run.id) if run is not None else runs.run_id_by_name(run_name)
        if error is not None:
            submit_errors.raise_if_submit_error(
                error, stack=orchestrator.stack, flow=self.name, execution_id=execution_id
            )
        if execution_id is None:
            assert error is not None
            raise error  # failed before ZenML created a run: nothing to hand back
        handle: FlowHandle[Any] = FlowHandle(self.name, execution_id, local_error=error)
        if error is not None and is_interrupt(error):
            interrupted(execution_id)
            raise KeyboardInterrupt from None  # as Python raises it, without ZenML's frames
        if reporter is not None:
            if orchestrator.runs_in_caller:
                # Its checkpoints were reported as they ran, in this process.
                reporter.flow_finished(execution_id, handle.status, time.monotonic() - began)
            else:
                reporter.submitted(execution_id, orchestrator.stack)
                handle.follow(reporter)
        return handle

    def __call__(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # wrapt's wrapper protocol; calls of a flow go through ``_FlowMethods.__call__``,
        # which knows the flow object itself (its import path is what travels).
        raise AssertionError("a @flow is called through FlowFunction.__call__")


class _FlowMethods(Generic[P, R]):
    """What a flow offers besides being called, bound to an instance or not.

    Mixed into wrapt's wrappers, which hold the spec in ``_self_wrapper`` and the
    (possibly bound) function in ``__wrapped__``.
    """

    def _spec(self) -> _FlowSpec:
        spec: _FlowSpec = cast(Any, self)._self_wrapper
        return spec

    @property
    def flow_name(self) -> str:
        """The flow's name (the ZenML pipeline name)."""
        return self._spec().name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run an execution and wait for its result (``await`` it for an async flow)."""
        if inspect.iscoroutinefunction(cast(Any, self).__wrapped__):
            # ``await my_flow(...)`` works like the plain coroutine function; the run
            # is started and awaited in worker threads, so the event loop stays free.
            async def run_async() -> Any:
                handle = await asyncio.to_thread(self._start, args, kwargs, None)
                return await asyncio.to_thread(handle.wait)

            return run_async()
        return self._start(args, kwargs, None).wait()

    def _start(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        stack: str | None,
        replay: ReplayPlan | None = None,
        progress: bool | None = None,
    ) -> FlowHandle[R]:
        # Outside process_state_kept, which puts back the excepthook it may install.
        with uncaught_as_one_line(), process_state_kept():
            return self._spec().start(
                self, args, kwargs, stack=stack, replay=replay, progress=progress
            )

    def run(
        self, *args: Any, stack: str | None = None, progress: bool | None = None, **kwargs: Any
    ) -> FlowHandle[R]:
        """Start an execution and return its handle (``.wait()`` for the result).

        ``stack`` names the ZenML stack to run on (default: ``KITARU_STACK``, else
        the active stack of ``kitaru stack use``). On a synchronous orchestrator
        (the local one) the execution has ended when this returns; on others it
        returns as soon as the run is submitted. ``progress=False`` (or
        ``KITARU_PROGRESS=0``) keeps it quiet on stderr.

        Raises:
            KitaruValidationError: an argument is not JSON, or holds a secret value;
                the stack is unknown; the flow cannot be imported where it would run.
        """
        from kitaru._run.warm.client import maybe_run_warm

        warm = maybe_run_warm(self, args, kwargs, stack, progress)  # KITARU_RUNNER=warm only
        if warm is not None:
            return cast("FlowHandle[R]", warm)
        return self._start(args, kwargs, stack, progress=progress)

    def replay(
        self,
        execution_id: str,
        *args: Any,
        stack: str | None = None,
        from_: str | None = None,
        outputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> FlowHandle[R]:
        """Start a new execution that reuses the recorded outputs of ``execution_id``.

        Checkpoint calls that completed there (same checkpoint, same position,
        same arguments) return their recorded outputs without running; the rest
        run again, reading secrets fresh. ``from_`` cuts the replay at that
        invocation ID: every call before it is reused by position (even if its
        arguments changed), the cut and everything after it run live.
        ``outputs`` replaces recorded outputs of calls before the cut with JSON
        values. Without arguments, the original execution's arguments are used.
        ``execution_id`` may be a unique prefix (8 characters or more).

        Raises:
            ExecutionNotFoundError: no such execution.
            KitaruValidationError: ``from_`` or an ``outputs`` key names no call of
                it; a replaced output is not JSON or holds a secret value.
            ReplayError: the execution belongs to another flow or is still running,
                or the flow changed its calls (raised before any call runs live).
        """
        from kitaru._run.flow_support import check_overrides, replay_inputs
        from kitaru.executions import resolve_execution_id

        spec = self._spec()
        execution_id = resolve_execution_id(execution_id)
        overrides = check_overrides(dict(outputs or {}))
        plan = plan_replay(spec.name, {"of": execution_id, "from": from_, "outputs": overrides})
        if not args and not kwargs:
            stored = replay_inputs(execution_id)
            if stored is None:
                raise ReplayError(
                    f"Execution {execution_id} did not store its arguments; pass them: "
                    f"{spec.name}.replay({execution_id!r}, ...).",
                    execution_id=execution_id,
                )
            args, kwargs = tuple(stored.get("args", [])), dict(stored.get("kwargs", {}))
        return self._start(args, kwargs, stack, replay=plan)

    def retry(self, execution_id: str) -> FlowHandle[R]:
        """Continue ``execution_id`` of this flow in place (same ID) after a failure or crash.

        Checkpoint calls that completed return their stored outputs without
        running; the first that did not runs again, and everything after it.
        ``execution_id`` may be a unique prefix (8 characters or more).

        Raises:
            ExecutionNotFoundError: no such execution.
            ExecutionBusyError: it is still running, waiting for input, or being retried.
            ReplayError: it belongs to another flow, was recorded before retry in
                place existed, or the flow's code changed its calls (replay instead).
        """
        from kitaru._run.retry import retry_execution
        from kitaru.executions import resolve_execution_id

        return retry_execution(resolve_execution_id(execution_id), flow_target=self)

    def run_in_orchestrator(self, attempt: FlowAttempt) -> Any:
        """Run the body as ``attempt`` says (called by kitaru's pipeline entry).

        This runs in whatever process the orchestrator runs the flow in; the
        runtime context is rebuilt there from the run's parameters.
        """
        return execute_flow(self._spec().name, cast(Any, self).__wrapped__, attempt)


class BoundFlowFunction(_FlowMethods[P, R], wrapt.BoundFunctionWrapper[P, R]):
    """A flow looked up on an instance or class (``obj.my_flow``)."""


class FlowFunction(_FlowMethods[P, R], wrapt.FunctionWrapper[P, R]):
    """A function decorated with ``@flow``; calling it runs an execution and waits."""

    __bound_function_wrapper__ = BoundFlowFunction  # type: ignore[assignment]

    def __init__(self, wrapped: Callable[..., Any], spec: _FlowSpec) -> None:
        super().__init__(wrapped, spec)


@overload
def flow(fn: Callable[P, R], /) -> FlowFunction[P, R]: ...


@overload
def flow(*, name: str | None = None) -> Callable[[Callable[P, R]], FlowFunction[P, R]]: ...


def flow(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make ``fn`` a durable flow, run as a ZenML dynamic pipeline.

    Usable bare (``@flow``) or with options (``@flow(name="research")``).
    Options are checked when the decorator is applied; errors name the function.
    """

    def decorate(f: Callable[..., Any]) -> Any:
        validate_function(f, "flow")
        flow_name = validate_name(f, name if name is not None else f.__name__, "flow")
        return FlowFunction(f, _FlowSpec(flow_name))

    if fn is not None:
        return decorate(fn)
    return decorate


__all__ = ["FlowFunction", "FlowHandle", "flow"]
