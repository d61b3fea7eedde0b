"""Links into ZenML's dashboard for kitaru's executions."""

from __future__ import annotations

import uuid

from kitaru._zenml.client import get_client
from kitaru.errors import ExecutionNotFoundError


def run_url(server: str, execution_id: str) -> str:
    """The dashboard page of run ``execution_id`` on ``server`` (ZenML's own URL scheme).

    The dashboard is served by the server itself, under the project's name.
    """
    try:
        run = get_client().zen_store.get_run(uuid.UUID(execution_id), hydrate=False)
    except (KeyError, ValueError):
        raise ExecutionNotFoundError(execution_id) from None
    project = get_client().zen_store.get_project(run.project_id).name
    return f"{server.rstrip('/')}/projects/{project}/runs/{run.id}"
