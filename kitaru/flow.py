"""``@flow``: a durable job, run as a ZenML dynamic pipeline.

``my_flow.run(...)`` starts an execution and returns a :class:`FlowHandle`;
``my_flow(...)`` is ``my_flow.run(...).wait()``. On the default local
orchestrator the run happens in the calling process and ``run`` returns when
the execution has finished.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

import wrapt

from kitaru._bodies import call_body, redact_exception
from kitaru.checkpoint import validate_function, validate_name
from kitaru.errors import KitaruContextError, KitaruError, ReplayError, SecretLeakError
from kitaru.runtime import (
    ExecutionScope,
    SecretRead,
    current_execution_or_none,
    execution_scope,
    register_boundary,
)
from kitaru.runtime.replay import ReplayPlan

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
            f"FlowHandle(flow={self.flow_name!r}, id={self.execution_id!r}, status={self.status!r})"
        )


def _run_flow_body(
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


register_boundary(_run_flow_body.__code__)


def _stored_inputs(scope: ExecutionScope, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The flow's arguments as JSON for a later replay, or None.

    Only JSON-able arguments that hold no secret value read in this execution
    are kept; otherwise a replay must be given the arguments again.
    """
    try:
        text = json.dumps({"args": list(args), "kwargs": kwargs})
    except (TypeError, ValueError):
        return None
    if scope.redactor.find_in_text(text) is not None:
        return None
    return json.loads(text)


def _source_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """Where the flow function lives, so `kitaru executions replay` can import it."""
    target = inspect.unwrap(fn)
    try:
        file = inspect.getsourcefile(target)
    except TypeError:
        file = None
    return {
        "module": getattr(target, "__module__", None),
        "qualname": getattr(target, "__qualname__", None),
        "file": file,
    }


def _record(
    scope: ExecutionScope,
    error: BaseException | None,
    started: float,
    extra: dict[str, Any] | None = None,
) -> None:
    from kitaru._zenml import runs

    data: dict[str, Any] = {
        **(extra or {}),
        "flow": scope.flow_name,
        "checkpoints": list(scope.checkpoints.values()),
        "secret_reads": [r.to_json() for r in scope.reads],
        "llm_calls": list(scope.events),
        "model_registry": scope.model_registry,
        "replayed_from": scope.replay.original_id if scope.replay else None,
        "reused": [c["id"] for c in scope.checkpoints.values() if c.get("reused")],
        "duration_s": round(time.time() - started, 3),
    }
    if error is not None:
        data["error"] = scope.redactor.redact(f"{type(error).__name__}: {error}")[:2000]
    runs.record_execution(scope.execution_id, data)


def _plan_replay(execution_id: str, flow_name: str) -> tuple[ReplayPlan, dict[str, Any] | None]:
    from kitaru._zenml import runs

    info = runs.replay_info(execution_id)
    if info["flow"] != flow_name:
        raise ReplayError(
            f"Execution {execution_id} belongs to flow {info['flow']!r}, not {flow_name!r}.",
            execution_id=execution_id,
        )
    if info["status"] in ("running", "initializing", "provisioning"):
        raise ReplayError(
            f"Execution {execution_id} is still {info['status']}; replay it once it has ended.",
            execution_id=execution_id,
        )
    meta = info["meta"]
    recorded = {
        c["id"]: c for c in meta.get("checkpoints", []) if isinstance(c, dict) and "id" in c
    }
    plan = ReplayPlan(info["id"], recorded, set(info["successful"]))
    stored = meta.get("inputs")
    return plan, stored if isinstance(stored, dict) else None


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
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        replay: ReplayPlan | None = None,
    ) -> FlowHandle[Any]:
        outer = current_execution_or_none()
        if outer is not None:
            raise KitaruContextError(
                f"Flow {self.name!r} was started inside running flow {outer.flow_name!r}; "
                "flows cannot be nested. Call it from outside any flow, or make the inner "
                "function a checkpoint."
            )
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
            scope.replay = replay
            error: BaseException | None = None
            try:
                return _run_flow_body(scope, fn, args, kwargs)
            except BaseException as exc:
                error = exc
                raise
            finally:
                extra = {"source": _source_of(fn), "inputs": _stored_inputs(scope, args, kwargs)}
                _record(scope, error, started, extra)

        if replay is None:
            outcome = pipelines.run_flow(self.name, runner)
        else:
            outcome = pipelines.replay_flow(self.name, replay.original_id, runner)
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

    def run(self, *args: P.args, **kwargs: P.kwargs) -> FlowHandle[R]:
        """Start an execution and return its handle (``.wait()`` for the result)."""
        return self._spec().run(cast(Any, self).__wrapped__, args, kwargs)

    def replay(self, execution_id: str, *args: Any, **kwargs: Any) -> FlowHandle[R]:
        """Start a new execution that reuses the completed checkpoints of ``execution_id``.

        Checkpoint calls that completed there (same checkpoint, same position,
        same arguments) return their recorded outputs without running; the rest
        run again, reading secrets fresh. Without arguments, the original
        execution's stored arguments are used (JSON-able ones only).

        Raises:
            ExecutionNotFoundError: no such execution.
            ReplayError: the execution belongs to another flow, its arguments were
                not stored and none were given, or the flow changed shape.
        """
        spec = self._spec()
        plan, stored = _plan_replay(execution_id, spec.name)
        if not args and not kwargs:
            if stored is None:
                raise ReplayError(
                    f"Execution {execution_id} did not store its arguments (they were not "
                    f"JSON-serialisable or held a secret value); pass them: "
                    f"{spec.name}.replay({execution_id!r}, ...).",
                    execution_id=execution_id,
                )
            args, kwargs = tuple(stored.get("args", [])), dict(stored.get("kwargs", {}))
        return spec.run(cast(Any, self).__wrapped__, args, kwargs, replay=plan)


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


def replay_execution(execution_id: str) -> FlowHandle[Any]:
    """Replay an execution by ID, importing its flow from where it was defined.

    Used by ``kitaru executions replay``. A flow defined in a script is loaded
    from that file under another module name, so the script's
    ``if __name__ == "__main__":`` block does not run again.
    """
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    from kitaru._zenml import runs

    info = runs.replay_info(execution_id)
    source = info["meta"].get("source") or {}
    module_name, qualname, file = source.get("module"), source.get("qualname"), source.get("file")
    if not module_name or not qualname:
        raise ReplayError(
            f"Execution {execution_id} has no record of its flow's source; replay it from "
            "Python with my_flow.replay(ID).",
            execution_id=execution_id,
        )
    if file:
        root = Path(file).resolve().parent
        for _ in range(0 if module_name == "__main__" else module_name.count(".")):
            root = root.parent
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
    if module_name == "__main__":
        if not file or not Path(file).exists():
            raise ReplayError(
                f"The script that defined flow {info['flow']!r} ({file}) is gone.",
                execution_id=execution_id,
            )
        spec = importlib.util.spec_from_file_location("kitaru_replayed_script", file)
        if spec is None or spec.loader is None:
            raise ReplayError(f"Cannot load {file}.", execution_id=execution_id)
        module: Any = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not isinstance(target, FlowFunction):
        raise ReplayError(
            f"{module_name}:{qualname} is no longer a @flow; cannot replay {execution_id}.",
            execution_id=execution_id,
        )
    return target.replay(execution_id)
