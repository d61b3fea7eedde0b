"""Where ``kitaru.log()`` metadata lives: one merged dict per step run or pipeline run.

ZenML keeps every metadata write and reads back the latest value per key, so
kitaru writes the whole merged dict under one key each time. The merged dict is
kept in this process after the first write, so later calls cost one write; the
first call of a resource reads what an earlier process (a resumed execution)
stored there.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from kitaru._zenml.client import get_client

LOG_KEY = "kitaru_log"

_merged: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


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


def add(execution_id: str, in_checkpoint: bool, metadata: dict[str, Any]) -> None:
    """Merge ``metadata`` into the log of the running step (or of the run) and store it."""
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    client = get_client()
    step_run_id = _current_step_run_id() if in_checkpoint else None
    if step_run_id is not None:
        resource_id, kind = step_run_id, MetadataResourceTypes.STEP_RUN
    else:
        resource_id, kind = execution_id, MetadataResourceTypes.PIPELINE_RUN
    with _lock:
        current = _merged.get(resource_id)
        if current is None:
            stored: Any
            if kind == MetadataResourceTypes.STEP_RUN:
                stored = client.zen_store.get_run_step(uuid.UUID(resource_id), hydrate=True)
            else:
                stored = client.zen_store.get_run(uuid.UUID(resource_id), hydrate=True)
            current = logged(stored)
        merged = {**current, **metadata}
        client.create_run_metadata(
            metadata={LOG_KEY: merged},
            resources=[RunMetadataResource(id=uuid.UUID(resource_id), type=kind)],
        )
        _merged[resource_id] = merged
