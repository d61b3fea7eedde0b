"""``kitaru executions show ID --web`` / ``--open``: the execution's page on ZenML's dashboard."""

from __future__ import annotations

import click

NO_SERVER = (
    "No ZenML server is in use, so there is no dashboard. Start one over kitaru's local "
    "store with `kitaru login --local` (or connect to a team server with `kitaru login URL`)."
)


def execution_url(execution_id: str) -> str:
    """The dashboard URL of execution ``execution_id`` (a full ID or a unique prefix).

    Raises:
        BackendError: no server is in use (the embedded store has no dashboard).
        ExecutionNotFoundError: no such execution.
    """
    from kitaru._config.connection import server_url
    from kitaru.errors import BackendError

    base = server_url()
    if not base:
        raise BackendError(NO_SERVER, operation="dashboard")
    from kitaru._zenml.dashboard import run_url
    from kitaru.executions import resolve_execution_id

    return run_url(base, resolve_execution_id(execution_id))


def show_web(execution_id: str, open_browser: bool) -> None:
    """Print the execution's dashboard URL, and open it in a browser if asked."""
    url = execution_url(execution_id)
    click.echo(url)
    if open_browser:
        import webbrowser

        if not webbrowser.open(url):
            click.echo("No web browser could be opened here; open the URL above.", err=True)
