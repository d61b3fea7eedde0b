"""Continuing an execution in place: the same ZenML run, its completed steps kept.

ZenML re-runs the flow body from the top in a new runner; checkpoint calls
that completed in the run return their stored outputs without running, and a
wait that was answered returns its answer. On the local orchestrator the body
runs in the calling process, which must be able to import the flow: the run
records its import path and project root.
"""

from __future__ import annotations

import uuid
from typing import Any

from kitaru._zenml.client import get_client


def continue_run(execution_id: str) -> None:
    """Move paused run ``execution_id`` to ``resuming`` and have its orchestrator continue it.

    Returns when the orchestrator has taken it over (on the local orchestrator:
    when the run has ended or paused again). The run goes back to ``paused`` if
    the orchestrator refuses it.
    """
    from zenml.enums import ExecutionStatus
    from zenml.models import PipelineRunUpdate

    from kitaru._zenml import flow_sources, stacks

    client = get_client()
    run = client.zen_store.get_run(uuid.UUID(execution_id), hydrate=True)
    params: dict[str, Any] = dict(run.config.parameters or {})
    source, root = params.get("flow"), params.get("source_root")
    if isinstance(source, str) and not source.startswith(flow_sources.LOCAL_FLOW_PREFIX):
        # Imported here first, so the runner's own import finds it under its root.
        flow_sources.load_flow(source, root if isinstance(root, str) else None)
    snapshot = run.snapshot
    if snapshot is None:
        raise RuntimeError(f"Run {execution_id} has no snapshot left to continue it from.")
    client.zen_store.update_run(
        run_id=run.id,
        run_update=PipelineRunUpdate(
            status=ExecutionStatus.RESUMING, status_reason="Resumed by kitaru."
        ),
    )
    try:
        with stacks.selected(snapshot.stack.name if snapshot.stack else None):
            stack = client.active_stack
            stack.orchestrator.resume_run(snapshot=snapshot, run=run, stack=stack)
    except BaseException:
        current = client.zen_store.get_run(run.id, hydrate=False)
        if current.status == ExecutionStatus.RESUMING:
            client.zen_store.update_run(
                run_id=run.id,
                run_update=PipelineRunUpdate(
                    status=ExecutionStatus.PAUSED, status_reason="Resume failed."
                ),
            )
        raise
