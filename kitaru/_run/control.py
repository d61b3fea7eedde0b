"""Cancelling an execution from any process that can reach its store.

A cancel is a request the runner honours: it looks for it every second and,
once seen, no further checkpoint starts (the one running finishes); the flow
ends ``cancelled`` and can be retried in place like a failed one. ``now=True``
also interrupts the runner where kitaru can reach its process (same host and
pid namespace: SIGINT, as Ctrl-C would); elsewhere the request alone applies.
An execution waiting for input has no checkpoint running and is ended at once.
"""

from __future__ import annotations

import os
import signal

from kitaru.errors import ExecutionStateError

_ENDED = ("completed", "failed", "crashed", "cancelled")


def cancel_execution(execution_id: str, *, now: bool = False) -> str:
    """Cancel ``execution_id``; returns what happened, in one line.

    Raises:
        ExecutionNotFoundError: no such execution.
        ExecutionStateError: it has already ended (its status is named).
    """
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import run_state, runs
    from kitaru.runtime.liveness import process_alive
    from kitaru.runtime.record import RunnerInfo

    run = runs.load_run(execution_id)
    status = run_state.execution_status(run)
    if status in _ENDED:
        raise ExecutionStateError(
            execution_id, status, f"Execution {execution_id} has already ended: {status}."
        )
    if status == "waiting":
        run_state.settle(execution_id, "cancelled", "Cancelled while waiting for input.")
        return f"Execution {execution_id} was waiting for input; it is cancelled."
    run_state.ask_cancel(execution_id)
    if now:
        runner = run_state.run_meta(run, run_state.RUNNER_KEY)
        info = RunnerInfo.model_validate({k: v for k, v in runner.items() if k != "at"})
        if process_alive(info):
            os.kill(info.pid, signal.SIGINT)
            return f"Execution {execution_id} was interrupted (its checkpoint stops now)."
    return (
        f"Execution {execution_id} will stop before its next checkpoint "
        "(the one running now finishes)."
    )
