"""``kitaru login --local`` and its side of ``kitaru logout``: the local server's lifecycle."""

from __future__ import annotations

import os

import click

from kitaru.cli._base import print_json


def login_local(port: int | None, as_json: bool) -> None:
    """Start (or reuse) the local server over kitaru's store and connect kitaru to it."""
    from kitaru._config import ENV_SERVER_URL, connection
    from kitaru._store.secret_store import forget
    from kitaru._zenml import local_server
    from kitaru._zenml.client import reset_client
    from kitaru.errors import BackendError, KitaruValidationError

    if os.environ.get(ENV_SERVER_URL, "").strip():
        raise KitaruValidationError(
            f"{ENV_SERVER_URL} is set, so kitaru would keep using that server; unset it "
            "to use a local server.",
            field="url",
        )
    hint = local_server.missing_server_extra()
    if hint:
        raise BackendError(hint, operation="login")
    current = local_server.running()
    saved = connection.saved_server_url()
    if saved and (current is None or saved != current.url):
        # The local server runs over the embedded store: open that, not another server.
        connection.logout()
        forget()
        reset_client()
        if not as_json:
            click.echo(f"Logged out of {saved}.", err=True)
    server, started = local_server.start(port)
    creds = connection.login_with_password(
        server.url, server.user, local_server.read_password(server)
    )
    forget()
    reset_client()
    if as_json:
        print_json(
            {
                "server_url": creds.url,
                "dashboard_url": creds.url,
                "user": server.user,
                "password_file": str(server.password_file),
                "pid": server.pid,
                "started": started,
                "log_file": str(server.log_file),
            }
        )
        return
    verb = "Started" if started else "Using the running"
    click.echo(f"{verb} local ZenML server over kitaru's store (pid {server.pid}).")
    click.echo(f"Dashboard: {server.url}")
    click.echo(
        f"Sign in as {server.user!r}; the password is in {server.password_file} (mode 0600)."
    )
    click.echo("kitaru now uses this server; `kitaru logout` stops it.")


def stop_if_local(url: str | None) -> str | None:
    """Stop the local server if ``url`` (the login just removed) was it; returns its URL."""
    from kitaru._zenml import local_server

    server = local_server.running()
    if server is None:
        return local_server.stop()  # drops a state file left by a server that died
    if url is not None and url != server.url:
        return None
    return local_server.stop()
