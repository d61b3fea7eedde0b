"""``@flow``: a durable job, run as a ZenML dynamic pipeline.

``my_flow.run(...)`` starts an execution and returns a :class:`FlowHandle`;
``my_flow(...)`` is ``my_flow.run(...).wait()``. On the default local
orchestrator the run happens in the calling process and ``run`` returns when
the execution has finished.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

import wrapt

from kitaru._bodies import call_body, redact_exception
from kitaru.checkpoint import validate_function, validate_name
from kitaru.errors import KitaruError, SecretLeakError
from kitaru.runtime import ExecutionScope, SecretRead, execution_scope, register_boundary

P = ParamSpec("P")
R = TypeVar("R")


class FlowHandle(Generic[R]):
    """One execution of a flow: its ID, status, and (via ``wait``) its result."""

    def __init__(
        self,
        flow_name: str,
        execution_id: str | None,
        result: Any = None,
        error: BaseException | None = None,
        secret_reads: list[SecretRead] | None = None,
    ) -> None:
        self.flow_name = flow_name
        self.execution_id = execution_id
        self._result = result
        self._error = error
        self.secret_reads: list[SecretRead] = list(secret_reads or [])

    @property
    def status(self) -> str:
        """``completed`` or ``failed``."""
        return "failed" if self._error is not None else "completed"

    @property
    def error(self) -> BaseException | None:
        """The error that ended the execution, if it failed."""
        return self._error

    def wait(self) -> R:
        """Return the flow's result, or raise the error that ended it."""
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (
            f"FlowHandle(flow={self.flow_name!r}, id={self.execution_id!r}, "
            f"status={self.status!r})"
        )


def _run_flow_body(
    scope: ExecutionScope, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    with execution_scope(scope):
        try:
            result = call_body(fn, args, kwargs)
        except Exception as exc:
            raise redact_exception(exc, scope.redactor) from None
        match = scope.redactor.find_in_object(result)
        if match is not None:
            raise SecretLeakError(
                where=f"Result of flow {scope.flow_name!r}", secret=match.secret, key=match.key
            )
        return result


register_boundary(_run_flow_body.__code__)


def _record(scope: ExecutionScope, error: BaseException | None, started: float) -> None:
    from kitaru._zenml import runs

    data: dict[str, Any] = {
        "flow": scope.flow_name,
        "checkpoints": list(scope.checkpoints.values()),
        "secret_reads": [r.to_json() for r in scope.reads],
        "llm_calls": list(scope.events),
        "model_registry": scope.model_registry,
        "duration_s": round(time.time() - started, 3),
    }
    if error is not None:
        data["error"] = scope.redactor.redact(f"{type(error).__name__}: {error}")[:2000]
    runs.record_execution(scope.execution_id, data)


def _registry_snapshot() -> dict[str, Any] | None:
    """The model registry this execution carries (alias names and secret names only)."""
    from kitaru import models

    try:
        return models.effective_registry()
    except KitaruError:
        return None  # an unreadable registry fails the llm() call that needs it, not the flow


class _FlowSpec:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> FlowHandle[Any]:
        from kitaru._zenml import pipelines, secret_store
        from kitaru._zenml.client import get_client

        get_client()
        holder: dict[str, ExecutionScope] = {}
        started = time.time()

        def runner(execution_id: str) -> Any:
            scope = ExecutionScope(
                flow_name=self.name, execution_id=execution_id, fetch_secret=secret_store.get_secret
            )
            holder["scope"] = scope
            scope.model_registry = _registry_snapshot()
            error: BaseException | None = None
            try:
                return _run_flow_body(scope, fn, args, kwargs)
            except BaseException as exc:
                error = exc
                raise
            finally:
                _record(scope, error, started)

        outcome = pipelines.run_flow(self.name, runner)
        scope = holder.get("scope")
        reads = list(scope.reads) if scope is not None else []
        error = outcome.error
        if error is not None and scope is not None and not isinstance(error, KitaruError):
            error = redact_exception(error, scope.redactor)
        return FlowHandle(self.name, outcome.run_id, outcome.result, error, reads)

    def __call__(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if inspect.iscoroutinefunction(wrapped):
            # ``await my_flow(...)`` works like the plain coroutine function; the run
            # itself happens in a worker thread (context copied) so the loop stays free.
            async def run_async() -> Any:
                handle = await asyncio.to_thread(self.run, wrapped, args, kwargs)
                return handle.wait()

            return run_async()
        return self.run(wrapped, args, kwargs).wait()


class FlowFunction(wrapt.FunctionWrapper, Generic[P, R]):  # type: ignore[misc]
    """A function decorated with ``@flow``; calling it runs an execution and waits."""

    def __init__(self, wrapped: Callable[..., Any], spec: _FlowSpec) -> None:
        super().__init__(wrapped, spec)

    @property
    def flow_name(self) -> str:
        """The flow's name (the ZenML pipeline name)."""
        return str(self._self_wrapper.name)

    def run(self, *args: P.args, **kwargs: P.kwargs) -> FlowHandle[R]:
        """Start an execution and return its handle (``.wait()`` for the result)."""
        return self._self_wrapper.run(self.__wrapped__, args, kwargs)  # type: ignore[no-any-return]


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
