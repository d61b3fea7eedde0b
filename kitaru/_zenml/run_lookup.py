"""Finding runs by an ID prefix and loading their checkpoints' outputs (for `executions`)."""

from __future__ import annotations

import uuid
from typing import Any

from kitaru._zenml import artifact_reads, run_reads, run_rest_reads
from kitaru._zenml.client import get_client

UNREADABLE = object()  # an output that exists but could not be loaded here


def ids_with_prefix(prefix: str, limit: int = 10) -> list[tuple[str, str | None]]:
    """Up to ``limit`` runs whose ID starts with ``prefix``: ``(id, flow name)``, newest first."""
    # ZenML matches the prefix without its hyphens, as run_reads does.
    for read in (run_reads.ids_with_prefix, run_rest_reads.ids_with_prefix):
        try:
            return read(prefix, limit)
        except run_reads.SchemaMismatch:
            continue  # the next reader; last, ZenML's client
    page = get_client().list_pipeline_runs(
        id=f"startswith:{prefix.lower()}", sort_by="desc:created", size=limit, hydrate=True
    )
    return [(str(r.id), r.pipeline.name if r.pipeline is not None else None) for r in page.items]


def checkpoint_outputs(execution_id: str, skip_prefix: str) -> dict[str, Any]:
    """Each step's first output, loaded (``UNREADABLE`` if it cannot be loaded here).

    Steps whose invocation ID starts with ``skip_prefix`` (the flow's result) are left
    out; steps without outputs (failed, or returning nothing) are absent. Outputs
    ZenML's built-in materializers wrote to the local artifact store are read
    without ZenML (``artifact_reads``); ZenML's client loads the others.
    """
    fast: dict[str, Any] | None = None
    try:
        run = run_reads.load_run(execution_id)
        if run is not None:
            fast = artifact_reads.first_outputs(
                {n: str(s.id) for n, s in run.steps.items() if not n.startswith(skip_prefix)}
            )
    except run_reads.SchemaMismatch:
        try:
            run = run_rest_reads.load_run(execution_id)
            if run is not None:
                fast = run_rest_reads.first_outputs(run, skip_prefix)
        except run_reads.SchemaMismatch:
            pass  # ZenML's client knows its own store
    if fast is not None and all(v is not artifact_reads.NEEDS_ZENML for v in fast.values()):
        return fast
    zen_run = get_client().zen_store.get_run(uuid.UUID(execution_id), hydrate=True)
    out: dict[str, Any] = {}
    for invocation_id, step_run in zen_run.steps.items():
        if invocation_id.startswith(skip_prefix):
            continue
        known = (fast or {}).get(invocation_id, artifact_reads.NEEDS_ZENML)
        if known is not artifact_reads.NEEDS_ZENML:
            out[invocation_id] = known
            continue
        artifacts = [a for versions in step_run.outputs.values() for a in versions]
        if not artifacts:
            continue
        try:
            out[invocation_id] = artifacts[0].load()
        except Exception:  # noqa: BLE001 - e.g. a remote artifact store not reachable here
            out[invocation_id] = UNREADABLE
    return out
