"""Retry in place and recovery: continue a failed, crashed or cancelled execution.

A retry continues the SAME execution (same ID): every checkpoint call that
completed returns its stored output without running, the first one that did
not runs again and everything after it, reading secrets afresh. It checks the
recorded calls as it goes and refuses (before anything runs live) when the
flow's code changed them: that is what a replay (a new execution) is for.
"""

from __future__ import annotations

import warnings
from typing import Any

from kitaru._run.handle import FlowHandle
from kitaru.errors import ExecutionBusyError, ReplayError
from kitaru.runtime import process_redactor

RETRYABLE = ("failed", "crashed", "cancelled")


def _check_retryable(execution_id: str, status: str) -> None:
    if status == "running":
        raise ExecutionBusyError(
            execution_id,
            "is still running (its process is alive): wait for it to end, or cancel it.",
        )
    if status == "waiting":
        raise ExecutionBusyError(
            execution_id, "is waiting for input: answer it, then resume it (not retry)."
        )


def retry_execution(execution_id: str, flow_target: Any = None) -> FlowHandle[Any]:
    """Continue execution ``execution_id`` in place; its handle (``.status``, ``.wait()``).

    See :func:`continue_execution`.
    """
    return continue_execution(execution_id, flow_target)[0]


def continue_execution(execution_id: str, flow_target: Any = None) -> tuple[FlowHandle[Any], bool]:
    """Continue execution ``execution_id`` in place: its handle, and whether it ran.

    A completed execution is left alone (its handle says ``completed``; False).
    ``flow_target`` is the @flow object when the caller has it; else the flow is
    imported from the path and project root recorded on the run.

    Raises:
        ExecutionNotFoundError: no such execution.
        ExecutionBusyError: it is running, waiting for input, or being retried.
        ReplayError: it was recorded before retry in place existed, or its flow
            cannot be imported here.
    """
    from kitaru._zenml.client import get_client
    from kitaru._zenml.process_state import process_state_kept

    get_client()  # first: it imports zenml without letting it touch the process
    from kitaru._zenml import continuation, run_record, run_state, runs
    from kitaru._zenml.process_env import flow_environment

    run = runs.load_run(execution_id)
    flow_name = str(run.pipeline.name) if run.pipeline is not None else "?"
    status = run_state.execution_status(run)
    if status == "completed":
        return FlowHandle(flow_name, execution_id), False
    _check_retryable(execution_id, status)
    wanted = getattr(flow_target, "flow_name", flow_name)
    if wanted != flow_name:
        raise ReplayError(
            f"Execution {execution_id} belongs to flow {flow_name!r}, not {wanted!r}.",
            execution_id=execution_id,
        )
    if run_record.is_legacy(run):
        raise ReplayError(
            f"Execution {execution_id} was recorded before retry in place existed, so it "
            f"cannot be continued; replay it instead: kitaru executions replay {execution_id}",
            execution_id=execution_id,
        )
    if flow_target is None:
        from kitaru._run.replay_by_id import load_recorded_flow

        flow_target = load_recorded_flow(execution_id, "retry")
    tag = continuation.claim(execution_id)
    error: BaseException | None = None
    try:
        # Looked at again under the claim: another retry may have finished meanwhile.
        status = run_state.execution_status(runs.load_run(execution_id))
        if status == "completed":
            return FlowHandle(flow_name, execution_id), False
        _check_retryable(execution_id, status)
        with process_state_kept(), flow_environment():
            continuation.continue_run(execution_id)
    except ExecutionBusyError:
        raise
    except Exception as exc:  # noqa: BLE001 - the flow's own error, handed to the handle
        from kitaru._zenml.submit_errors import submit_error

        said = submit_error(exc, stack=_stack_of(run), flow=flow_name)
        error = exc if said is None else said
        # If the run could not even continue, it must not stay "running" under a
        # runner (this process) that is not running it.
        line = (
            str(said)
            if said is not None
            else process_redactor().redact(f"Retry failed: {type(exc).__name__}: {exc}")[:2000]
        )
        run_state.settle(execution_id, "failed", line)
    finally:
        continuation.release(tag)
    return FlowHandle(flow_name, execution_id, local_error=error), True


def _stack_of(run: Any) -> str:
    try:
        return str(run.snapshot.stack.name)
    except Exception:  # noqa: BLE001 - the stack may be gone or not readable
        return "?"


def recover(flow: str | None = None) -> list[FlowHandle[Any]]:
    """Retry every crashed execution of the current store (of ``flow`` only, if given).

    Each is retried by one recoverer only: an execution another process is
    retrying right now is skipped. Returns the handles of the executions this
    call retried.
    """
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import runs

    handles = []
    for item in runs.list_runs(limit=1000, flow=flow):
        if item["status"] != "crashed":
            continue
        try:
            handle, ran = continue_execution(item["id"])
        except ExecutionBusyError:
            continue  # another recoverer has it
        except ReplayError as exc:
            # One execution that cannot be retried (its code changed, an old record)
            # must not stop the others from being recovered: say so and go on.
            warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
            continue
        if ran:
            handles.append(handle)
    return handles
