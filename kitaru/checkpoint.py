"""``@checkpoint``: a unit of work whose output survives a crash.

Inside a flow, each call runs as a ZenML step; its return value is persisted as
an artifact before the call returns, after kitaru has checked it for secret
values read in this execution (:class:`~kitaru.errors.SecretLeakError` if found,
and nothing is stored). ``retries=N`` re-runs a failing body up to N more times
with exponential backoff. ``.submit(...)`` runs a checkpoint concurrently and
returns a future.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

import wrapt

from kitaru._run import isolated as isolated_calls
from kitaru._run.bodies import call_body, redact_exception
from kitaru._run.decorator_checks import option_error, validate_function, validate_name
from kitaru.errors import KitaruContextError, SecretLeakError
from kitaru.runtime import (
    CheckpointScope,
    ExecutionScope,
    checkpoint_scope,
    execution_for_checkpoint,
    execution_scope,
    register_boundary,
)
from kitaru.runtime.capture import checkpoint_output
from kitaru.runtime.interrupts import is_interrupt
from kitaru.runtime.progress import current_sink, report_end

if TYPE_CHECKING:
    from kitaru._zenml.pipelines import CheckpointFuture

P = ParamSpec("P")
R = TypeVar("R")

MAX_RETRY_DELAY = 30.0


def _run_checkpoint_body(
    scope: ExecutionScope,
    name: str,
    invocation_id: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    retries: int,
    retry_delay: float,
) -> Any:
    """Run the body (with its retries) and leave the call's record on its step.

    The record, with what the body printed and logged (redacted), is written in
    one metadata write when the call ends, before the next checkpoint starts.
    """
    printed: list[str] = []
    began = time.time()
    error: Exception | None = None
    ended = False
    try:
        with checkpoint_output(printed.append):
            value = _attempts(scope, name, invocation_id, fn, args, kwargs, retries, retry_delay)
        ended = True
        return value
    except Exception as exc:
        ended = not is_interrupt(exc)  # a Ctrl-C is not the call's end: it runs again
        error = exc
        raise
    finally:
        # Only a call that ended is recorded: an interrupt (Ctrl-C, SystemExit) is
        # not the body's failure, and the call runs again when the run continues.
        if ended:
            from kitaru._zenml import pipelines

            record = scope.call_record(invocation_id, began, error)
            output = scope.redactor.redact("".join(printed)) if printed else None
            pipelines.record_checkpoint(record.to_metadata(output))


def _attempts(
    scope: ExecutionScope,
    name: str,
    invocation_id: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    retries: int,
    retry_delay: float,
) -> Any:
    sink = current_sink()
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        if sink is not None:
            sink.checkpoint_started(invocation_id, attempt)
        cp = CheckpointScope(name=name, invocation_id=invocation_id, attempt=attempt)
        failure: Exception | None = None
        try:
            with checkpoint_scope(cp):
                value = call_body(fn, args, kwargs)
        except Exception as exc:
            if is_interrupt(exc):
                raise  # a Ctrl-C is not the body's failure: neither retried nor recorded
            failure = exc
        if failure is not None:
            # Raised outside the ``except`` block, so a redacted replacement does
            # not carry the original (unredacted) exception as its context.
            scope.record_attempt(invocation_id, failure)
            if attempt <= retries:
                time.sleep(min(retry_delay * (2 ** (attempt - 1)), MAX_RETRY_DELAY))
                # Secrets are read again only if the store changed (a rotated key);
                # a read that failed was never cached, so it is retried anyway.
                from kitaru._store import secret_store

                scope.forget_changed(secret_store.updated_at)
                continue
            error: BaseException = redact_exception(failure, scope.redactor)
            report_end(sink, scope.events, invocation_id, started, error)
            raise error
        scope.record_attempt(invocation_id, None)
        match = scope.redactor.find_in_object(value)
        if match is not None:
            error = SecretLeakError(
                where=f"Output of checkpoint {invocation_id!r}",
                secret=match.secret,
                key=match.key,
            )
            report_end(sink, scope.events, invocation_id, started, error)
            raise error
        report_end(sink, scope.events, invocation_id, started, None)
        return value


register_boundary(_run_checkpoint_body.__code__)
register_boundary(_attempts.__code__)


def run_as_checkpoint(
    scope: ExecutionScope, name: str, body: Callable[[], Any], identity: tuple[Any, ...] = ()
) -> Any:
    """Run ``body`` as a checkpoint of ``scope`` (used for flow-body ``llm()`` calls).

    ``identity`` stands in for the arguments when matching calls in a replay.
    """
    from kitaru._zenml import pipelines

    invocation_id = scope.next_invocation_id(name, identity)

    def run() -> Any:
        return _run_checkpoint_body(scope, name, invocation_id, body, (), {}, 0, 0.0)

    return pipelines.call_checkpoint(scope.execution_id, invocation_id, run)


class _CheckpointSpec:
    """A checkpoint's checked options; called by wrapt for every call."""

    def __init__(self, name: str, retries: int, retry_delay: float, runtime: str) -> None:
        self.name = name
        self.retries = retries
        self.retry_delay = retry_delay
        self.runtime = runtime

    def enter(
        self, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> tuple[ExecutionScope, str]:
        scope = execution_for_checkpoint(self.name)
        return scope, scope.next_invocation_id(self.name, args, kwargs)

    def runner(
        self,
        fn: Callable[..., Any],
        scope: ExecutionScope,
        invocation_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Callable[[], Any]:
        def run() -> Any:
            return _run_checkpoint_body(
                scope, self.name, invocation_id, fn, args, kwargs, self.retries, self.retry_delay
            )

        return run

    def __call__(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # ``wrapped`` is already bound to ``instance`` for methods.
        scope, invocation_id = self.enter(args, kwargs)
        runner = self.runner(wrapped, scope, invocation_id, args, kwargs)
        from kitaru._zenml import pipelines, step_code

        if self.runtime == "isolated":

            def call() -> Any:
                step_code.note_source(scope.execution_id, invocation_id, wrapped)
                value = isolated_calls.call(
                    scope, self.name, invocation_id, wrapped, args, kwargs, runner
                )
                return scope.output_of(invocation_id, value)

        else:

            def call() -> Any:
                step_code.note_source(scope.execution_id, invocation_id, wrapped)
                value = pipelines.call_checkpoint(scope.execution_id, invocation_id, runner)
                return scope.output_of(invocation_id, value)

        if inspect.iscoroutinefunction(wrapped):
            # The step (and the body's own event loop) runs in a worker thread with
            # this context, so awaiting a checkpoint leaves the caller's loop free
            # and ``asyncio.gather`` over checkpoints runs them concurrently.
            ctx = contextvars.copy_context()

            async def call_async() -> Any:
                return await asyncio.to_thread(ctx.run, call)

            return call_async()
        return call()


def _submit(
    spec: _CheckpointSpec, fn: Callable[..., Any], args: Any, kwargs: Any
) -> CheckpointFuture[Any]:
    if spec.runtime == "isolated":
        raise KitaruContextError(
            f"Checkpoint {spec.name!r} runs isolated; .submit() runs checkpoints in the "
            "flow's thread pool. Call it directly, or make it async and use asyncio.gather "
            "to run several at once."
        )
    scope, invocation_id = spec.enter(args, kwargs)
    runner = spec.runner(fn, scope, invocation_id, args, kwargs)
    from kitaru._zenml import pipelines, step_code

    step_code.note_source(scope.execution_id, invocation_id, fn)
    future = pipelines.submit_checkpoint(scope.execution_id, invocation_id, runner)
    scope.futures.append(future)
    return future


class _CheckpointMethods(Generic[P, R]):
    """What a checkpoint offers besides being called, bound or not.

    Mixed into wrapt's wrappers, which hold the spec in ``_self_wrapper`` and the
    (possibly bound) function in ``__wrapped__``.
    """

    def _spec(self) -> _CheckpointSpec:
        spec: _CheckpointSpec = cast(Any, self)._self_wrapper
        return spec

    @property
    def checkpoint_name(self) -> str:
        """The name under which calls are recorded."""
        return self._spec().name

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> CheckpointFuture[R]:
        """Start this checkpoint concurrently; returns a future with ``.result()``.

        The flow's runtime context (execution, secrets cache) goes with it into
        ZenML's worker thread. A flow collects its submitted checkpoints before it
        ends: one that failed and whose ``result()`` was never asked for fails the
        flow.
        """
        return _submit(self._spec(), cast(Any, self).__wrapped__, args, kwargs)

    def run_isolated(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], context: dict[str, Any]
    ) -> tuple[Any, BaseException | None]:
        """Run one isolated call in this process (called by kitaru's isolated ZenML step).

        Returns the output and the (redacted) error, if the body failed; the
        call's record (reads, LLM calls, attempts; never a value) is on the step.
        """
        from kitaru._store import secret_store
        from kitaru._store.fingerprint_key import fingerprint_key

        spec = self._spec()
        invocation_id = str(context["invocation_id"])
        scope = ExecutionScope(
            flow_name=str(context["flow"]),
            execution_id=str(context["execution_id"]),
            fetch_secret=secret_store.get_secret,
            fingerprint_key=fingerprint_key,
        )
        scope.model_registry = context.get("registry")
        scope.checkpoints[invocation_id] = {
            "id": invocation_id,
            "name": spec.name,
            "attempts": 0,
            "args_hash": context.get("args_hash"),
        }
        value, error = None, None
        try:
            with execution_scope(scope):
                value = _run_checkpoint_body(
                    scope,
                    spec.name,
                    invocation_id,
                    cast(Any, self).__wrapped__,
                    args,
                    kwargs,
                    spec.retries,
                    spec.retry_delay,
                )
        except Exception as exc:  # noqa: BLE001 - handed back, already redacted
            error = exc
        return value, error


class BoundCheckpointFunction(_CheckpointMethods[P, R], wrapt.BoundFunctionWrapper[P, R]):
    """A checkpoint looked up on an instance or class (``obj.step``)."""


class CheckpointFunction(_CheckpointMethods[P, R], wrapt.FunctionWrapper[P, R]):
    """A function decorated with ``@checkpoint``; it behaves like the function."""

    __bound_function_wrapper__ = BoundCheckpointFunction  # type: ignore[assignment]

    def __init__(self, wrapped: Callable[..., Any], spec: _CheckpointSpec) -> None:
        super().__init__(wrapped, spec)


@overload
def checkpoint(fn: Callable[P, R], /) -> CheckpointFunction[P, R]: ...


@overload
def checkpoint(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 0.5,
    runtime: str = "inline",
) -> Callable[[Callable[P, R]], CheckpointFunction[P, R]]: ...


def checkpoint(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 0.5,
    runtime: str = "inline",
) -> Any:
    """Make ``fn`` a checkpoint: its output is persisted before the call returns.

    Usable bare (``@checkpoint``) or with options
    (``@checkpoint(name="fetch", retries=2)``). Options are checked here, when the
    decorator is applied, and errors name the function.

    Args:
        name: Name recorded for calls (default: the function's name).
        retries: How many times to re-run a failing body before the flow fails.
        retry_delay: Seconds before the first retry; doubles on each further one.
        runtime: ``"inline"`` (in the flow's process) or ``"isolated"`` (its own
            process, on orchestrators that can; inline with a warning elsewhere).
    """

    def decorate(f: Callable[..., Any]) -> Any:
        validate_function(f, "checkpoint")
        cp_name = validate_name(f, name if name is not None else f.__name__, "checkpoint")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise option_error(f, f"retries must be a non-negative integer, got {retries!r}.")
        if (
            isinstance(retry_delay, bool)
            or not isinstance(retry_delay, (int, float))
            or retry_delay < 0
        ):
            raise option_error(f, f"retry_delay must be a number >= 0, got {retry_delay!r}.")
        if runtime not in isolated_calls.RUNTIMES:
            raise option_error(f, f"runtime must be 'inline' or 'isolated', got {runtime!r}.")
        spec = _CheckpointSpec(cp_name, retries, float(retry_delay), runtime)
        return CheckpointFunction(f, spec)

    if fn is not None:
        return decorate(fn)
    return decorate
