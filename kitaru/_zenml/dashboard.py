"""Links into ZenML's dashboard for kitaru's executions."""

from __future__ import annotations

from kitaru._zenml.client import get_client
from kitaru._zenml.runs import load_run


def run_url(server: str, execution_id: str) -> str:
    """The dashboard page of run ``execution_id`` on ``server`` (ZenML's own URL scheme).

    The dashboard is served by the server itself, under the project's name.
    """
    run = load_run(execution_id, hydrate=False)
    project = get_client().zen_store.get_project(run.project_id).name
    return f"{server.rstrip('/')}/projects/{project}/runs/{run.id}"
