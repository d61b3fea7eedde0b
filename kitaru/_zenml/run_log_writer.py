"""Writing ``kitaru.log()`` metadata on the running checkpoint's step, or on the run."""

from __future__ import annotations

import uuid
from typing import Any

from kitaru._zenml.client import get_client, import_zenml
from kitaru._zenml.run_log_store import LOG_KEY


def add(execution_id: str, in_checkpoint: bool, metadata: dict[str, Any]) -> None:
    """Merge ``metadata`` into the log of the running checkpoint's step (or of the run)."""
    if in_checkpoint:
        from kitaru._zenml import pipelines

        # Finds the step also for a body running in a worker thread (``.submit``).
        pipelines.record_checkpoint({LOG_KEY: metadata})
        return
    import_zenml()
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    get_client().create_run_metadata(
        metadata={LOG_KEY: metadata},
        resources=[
            RunMetadataResource(id=uuid.UUID(execution_id), type=MetadataResourceTypes.PIPELINE_RUN)
        ],
    )
