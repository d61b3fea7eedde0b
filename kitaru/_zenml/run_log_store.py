"""Where ``kitaru.log()`` metadata lives: one dict per step run or pipeline run.

ZenML reads back a metadata key written several times with dict values as
those dicts merged, newest last, so each ``log()`` call writes only what it
was given and later calls merge key by key.
"""

from __future__ import annotations

import uuid
from typing import Any

from kitaru._zenml.client import get_client

LOG_KEY = "kitaru_metadata"


def _current_step_run_id() -> str | None:
    from zenml import get_step_context

    try:
        return str(get_step_context().step_run.id)
    except RuntimeError:
        return None  # not inside a ZenML step


def logged(resource: Any) -> dict[str, Any]:
    """What ``kitaru.log()`` stored on a ZenML run or step run response ({} if nothing)."""
    try:
        value = resource.run_metadata.get(LOG_KEY)
    except Exception:  # noqa: BLE001 - metadata not hydrated / not readable
        return {}
    return dict(value) if isinstance(value, dict) else {}


def attach(run: Any, item: dict[str, Any]) -> None:
    """Add the logged metadata of ``run`` and of each of its checkpoints to its view ``item``."""
    item["metadata"] = logged(run)
    steps = run.steps
    for checkpoint in item.get("checkpoints", []):
        step_run = steps.get(checkpoint.get("id"))
        checkpoint["metadata"] = logged(step_run) if step_run is not None else {}


def add(execution_id: str, in_checkpoint: bool, metadata: dict[str, Any]) -> None:
    """Merge ``metadata`` into the log of the running step (or of the run)."""
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    step_run_id = _current_step_run_id() if in_checkpoint else None
    if step_run_id is not None:
        resource_id, kind = step_run_id, MetadataResourceTypes.STEP_RUN
    else:
        resource_id, kind = execution_id, MetadataResourceTypes.PIPELINE_RUN
    get_client().create_run_metadata(
        metadata={LOG_KEY: metadata},
        resources=[RunMetadataResource(id=uuid.UUID(resource_id), type=kind)],
    )
