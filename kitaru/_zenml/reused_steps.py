"""A checkpoint a replay reuses, as ZenML's dashboard shows it: where it came from.

ZenML records a step that a replay skips with the original step's outputs and
metadata, and with ``cache_expires_at`` set to its own start ("skipped step runs
are not valid candidates for caching"); the dashboard shows any set expiry in
the past as "Cache expiration ... (Expired)", as if a cache entry had run out.
kitaru never turns ZenML's cache on and a skipped step gets a random cache key,
so the field says nothing about a reused checkpoint: :func:`install` leaves it
empty for kitaru's steps (the dashboard then reads "Never").

The step's own metadata then gets one card, ``kitaru_reused_from``: the original
execution's ID, the original step run's ID and, with a server in use, the
dashboard URL of the original execution. It is written right after ZenML creates
the step run, in the process that runs the flow; it costs one metadata write per
reused checkpoint, in replays only.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kitaru._zenml.stored_paths import STEP_PATHS

REUSED_CARD = "kitaru_reused_from"

# (replay run ID, invocation ID) -> (original run ID, original step run ID), from
# the moment ZenML fills in the skipped step's request until its step run exists.
_pending: dict[tuple[str, str], tuple[str, str]] = {}
_lock = threading.Lock()


def _is_kitaru_step(factory: Any, request: Any) -> bool:
    step = request.dynamic_config or factory.snapshot.step_configurations.get(request.name)
    path = str(getattr(getattr(getattr(step, "spec", None), "source", None), "import_path", ""))
    return path in STEP_PATHS  # the public name, or the one of a run from before it


def card(original_run: str, original_step: str) -> dict[str, Any]:
    """The ``kitaru_reused_from`` card (with the dashboard URL when a server is in use)."""
    from zenml.client import Client
    from zenml.enums import StoreType

    fields: dict[str, Any] = {"execution_id": original_run, "step_run_id": original_step}
    client = Client()
    if client.zen_store.type == StoreType.REST:
        from zenml.metadata.metadata_types import Uri

        server = str(client.zen_store.config.url).rstrip("/")
        project = client.active_project.name
        fields["url"] = Uri(f"{server}/projects/{project}/runs/{original_run}")
    return {REUSED_CARD: fields}


def _write_card(step_run: Any) -> None:
    with _lock:
        found = _pending.pop((str(step_run.pipeline_run_id), str(step_run.name)), None)
    if found is None:
        return
    from zenml.client import Client
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    try:
        Client().create_run_metadata(
            metadata=card(*found),
            resources=[RunMetadataResource(id=step_run.id, type=MetadataResourceTypes.STEP_RUN)],
        )
    except Exception as exc:  # noqa: BLE001 - a missing link must not fail the replay
        logging.getLogger(__name__).warning(
            "Could not note where reused checkpoint %s came from: %s", step_run.name, exc
        )


def install() -> None:
    """Change how ZenML records kitaru's skipped steps, in this process (once)."""
    from zenml.enums import ExecutionStatus
    from zenml.orchestrators.step_launcher import StepLauncher
    from zenml.orchestrators.step_run_utils import StepRunRequestFactory

    populate = StepRunRequestFactory._populate_skipped_step

    def populate_skipped_step(self: Any, request: Any) -> None:
        populate(self, request)
        if _is_kitaru_step(self, request):
            request.cache_expires_at = None
            original = self.pipeline_run.original_run
            with _lock:
                _pending[(str(self.pipeline_run.id), request.name)] = (
                    str(original.id),
                    str(request.original_step_run_id),
                )

    StepRunRequestFactory._populate_skipped_step = populate_skipped_step  # type: ignore[method-assign]

    launch = StepLauncher.launch

    def launch_step(self: Any) -> Any:
        step_run = launch(self)
        if getattr(step_run, "status", None) == ExecutionStatus.SKIPPED:
            _write_card(step_run)
        return step_run

    StepLauncher.launch = launch_step  # type: ignore[method-assign]
