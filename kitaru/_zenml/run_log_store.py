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
    """Merge ``metadata`` into the log of the running checkpoint's step (or of the run)."""
    if in_checkpoint:
        from kitaru._zenml import pipelines

        # Finds the step also for a body running in a worker thread (``.submit``).
        pipelines.record_checkpoint({LOG_KEY: metadata})
        return
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    get_client().create_run_metadata(
        metadata={LOG_KEY: metadata},
        resources=[
            RunMetadataResource(id=uuid.UUID(execution_id), type=MetadataResourceTypes.PIPELINE_RUN)
        ],
    )
