"""``kitaru executions replay ID``: replay an execution without the caller's code at hand.

The run itself records where its flow lives (the flow's import path and the
project root), so the flow is imported from there, as an orchestrator's process
would import it, and replayed with the original arguments.
"""

from __future__ import annotations

from typing import Any

from kitaru.errors import ImportTimeError, ImportTimeFlowStartError, ReplayError


def load_recorded_flow(execution_id: str, verb: str) -> Any:
    """Import the @flow that ran ``execution_id``, from the path and root on the run.

    ``verb`` ("replay", "retry") words the errors.

    Raises:
        ExecutionNotFoundError: no such execution.
        ReplayError: the flow cannot be imported (gone, defined inside a function,
            or its module reads a secret at import time).
    """
    from kitaru._zenml.client import get_client

    get_client()  # first: it imports zenml without letting it touch the process
    from kitaru._zenml import flow_sources, runs

    params = runs.run_parameters(execution_id)
    source = params.get("flow")
    if not isinstance(source, str) or source.startswith(flow_sources.LOCAL_FLOW_PREFIX):
        raise ReplayError(
            f"Execution {execution_id} ran a flow defined inside a function (or bound to an "
            f"instance), which only its own process could import: {verb} it from Python "
            f"with my_flow.{verb}(ID) in a process that defines it, or define the flow at "
            "module level.",
            execution_id=execution_id,
        )
    root = params.get("source_root")
    try:
        return flow_sources.load_flow(source, root if isinstance(root, str) else None)
    except ImportTimeError as exc:
        if isinstance(exc, ImportTimeFlowStartError):
            what = f"starts flow {exc.flow!r}"
        else:
            what = f"reads secret {getattr(exc, 'secret', None)!r}"
        raise ReplayError(
            f"Cannot {verb} {execution_id}: that imports the flow's file as module "
            f"{exc.module!r}, and its top level {what} "
            f"({exc.filename}:{exc.lineno}). That is allowed when the file runs as a "
            "script, but not on import (an orchestrator imports it too): move it into the "
            f"flow or a checkpoint, then {verb} again.",
            execution_id=execution_id,
        ) from None
    except (ImportError, AttributeError, TypeError) as exc:
        raise ReplayError(
            f"Cannot {verb} {execution_id}: its flow {source!r} (project root {root}) cannot "
            f"be imported any more ({type(exc).__name__}: {exc}).",
            execution_id=execution_id,
        ) from None


def replay_execution(
    execution_id: str,
    *,
    stack: str | None = None,
    from_: str | None = None,
    kwargs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> Any:
    """Replay execution ``execution_id``; returns the new execution's ``FlowHandle``.

    ``from_``, ``outputs``: see ``my_flow.replay``; ``kwargs`` replace the
    original arguments when given.

    Raises:
        ExecutionNotFoundError: no such execution.
        ReplayError: the flow cannot be imported (gone, defined inside a function,
            or its module reads a secret at import time) or the replay is unsafe.
    """
    target = load_recorded_flow(execution_id, "replay")
    return target.replay(execution_id, stack=stack, from_=from_, outputs=outputs, **(kwargs or {}))
