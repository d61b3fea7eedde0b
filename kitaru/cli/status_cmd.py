"""``kitaru init`` and ``kitaru status``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from kitaru.cli._base import json_option, print_json


@click.command("init")
def init_cmd() -> None:
    """Create .kitaru/ in the current directory (safe to run again).

    The directory marks the project root; kitaru's store and key stay in the
    config directory (KITARU_CONFIG_PATH), which init also prepares.
    """
    from kitaru._config import config_dir, paths
    from kitaru._config.connection import server_url
    from kitaru._zenml.client import get_client

    project = Path.cwd() / ".kitaru"
    if project.is_dir():
        click.echo(f"Already initialized: {project} exists; nothing changed there.")
    else:
        project.mkdir()
        (project / ".gitignore").write_text("*\n", encoding="utf-8")
        click.echo(f"Created {project} (project marker for kitaru).")
    had_store = paths().local_store_db.exists()
    if not had_store and not server_url():
        click.echo(f"Creating the local store in {config_dir()} (first use) ...")
    get_client()
    if server_url():
        click.echo(f"Using the kitaru/ZenML server at {server_url()}.")
    elif had_store:
        click.echo(f"Using the existing local store in {config_dir()}.")
    else:
        click.echo(f"Created the local store in {config_dir()} (secrets encrypted at rest).")


BACKENDS = {
    "direct-sqlite": "direct (kitaru reads the embedded store's secret table itself)",
    "zenml-embedded": "ZenML client on the embedded store",
    "rest-server": "REST (kitaru speaks the server's API itself)",
    "zenml-server": "ZenML client (the server's version is not the pinned one)",
}


def status_data() -> dict[str, Any]:
    """What `kitaru status` reports, as a dict (no secrets)."""
    from kitaru._config import config_dir, paths
    from kitaru._config.connection import server_url
    from kitaru._config.store_key import key_status
    from kitaru._zenml.store_health import damaged_store_error, inspect_store

    p = paths()
    url = server_url()
    data: dict[str, Any] = {"config_path": str(config_dir())}
    if url:
        data.update(_server_status(url))
        return data
    key = key_status()
    health = inspect_store(p)
    data.update(
        {
            "store": "local",
            "store_location": str(p.local_store_db),
            "store_exists": p.local_store_db.exists(),
            "store_state": health.state,
            "encryption_at_rest": key in ("present", "new"),
            "encryption": {
                "present": f"on (AES-GCM; key in {p.key_file})",
                "new": f"on (AES-GCM; key will be created on first use in {p.key_file})",
                "missing": f"KEY MISSING: restore {p.key_file} from your backup",
                "mismatch": f"WRONG KEY in {p.key_file}: restore the original key from your backup",
            }[key],
            "key_file": str(p.key_file),
        }
    )
    if health.state in ("damaged", "incomplete"):
        data["store_problem"] = str(damaged_store_error(p, health.detail))
    elif health.usable:
        _add_backend(data)  # a new store is not made just to report on it
    return data


def _add_backend(data: dict[str, Any]) -> Any:
    """Add which secret backend this process uses; returns it (None if it cannot open)."""
    from kitaru._store.secret_store import backend
    from kitaru.errors import KitaruError

    try:
        chosen = backend()
    except KitaruError as exc:
        data["backend"] = None
        data["connection"] = f"error: {exc}"
        return None
    data["backend"] = chosen.kind
    data["backend_description"] = BACKENDS[chosen.kind]
    return chosen


def _server_status(url: str) -> dict[str, Any]:
    """What `kitaru status` shows in server mode (never a credential)."""
    from kitaru._config import ENV_SERVER_URL, paths
    from kitaru._config.connection import credentials_for, server_info
    from kitaru._store.rest_backend import RestServerBackend
    from kitaru.errors import KitaruError

    creds = credentials_for(url)
    from_env = bool(os.environ.get(ENV_SERVER_URL, "").strip())
    data: dict[str, Any] = {
        "store": "server",
        "store_location": url,
        "server_url": url,
        "url_source": ENV_SERVER_URL if from_env else "kitaru login",
        "auth": creds.describe() if creds else "none (not logged in)",
        "login_file": str(paths().server_file) if creds and creds.source == "login" else None,
        "user": creds.user if creds else None,
    }
    chosen = _add_backend(data)
    if creds is None:
        data["connection"] = f"not logged in: run `kitaru login {url}`"
        return data
    if chosen is None:
        return data
    try:
        if isinstance(chosen, RestServerBackend):
            data["user"] = chosen.current_user()
            info = server_info(url)
            data["server_version"] = str(info.get("version"))
            data["secrets_store"] = str(info.get("secrets_store_type") or "")
        else:
            from kitaru._zenml.client import get_client

            client = get_client()
            data["user"] = client.active_user.name
            store_info = client.zen_store.get_store_info()
            data["server_version"] = str(store_info.version)
            data["secrets_store"] = str(getattr(store_info.secrets_store_type, "value", ""))
        data["connection"] = "ok"
    except KitaruError as exc:
        data["connection"] = f"error: {exc}"
    return data


@click.command("status")
@json_option(show=True)
def status_cmd(as_json: bool) -> None:
    """Show where kitaru keeps its store, what kind it is, and if it is encrypted."""
    data = status_data()
    # A local store that cannot be used (damaged, key missing or wrong) is an error;
    # an unreachable server is reported, the local setup being fine.
    broken = data["store"] == "local" and (
        bool(data.get("store_problem")) or str(data.get("connection", "")).startswith("error")
    )
    if as_json:
        print_json(data)
        if broken:
            raise SystemExit(1)
        return
    click.echo(f"Config directory:   {data['config_path']}")
    if data["store"] == "local":
        click.echo("Store:              local (embedded ZenML SQLite store)")
        state = "" if data["store_exists"] else " (created on first use)"
        click.echo(f"Store location:     {data['store_location']}{state}")
        click.echo(f"Encryption at rest: {data['encryption']}")
        if data.get("backend_description"):
            click.echo(f"Secrets backend:    {data['backend_description']}")
        if data.get("connection"):
            click.echo(f"Store:              {data['connection']}")
        if data.get("store_problem"):
            click.echo(f"Store:              DAMAGED: {data['store_problem']}")
    else:
        click.echo(f"Store:              server (ZenML server at {data['store_location']})")
        click.echo(f"Server from:        {data.get('url_source', 'unknown')}")
        click.echo(f"User:               {data.get('user') or 'unknown'}")
        click.echo(f"Authentication:     {data.get('auth', 'unknown')}")
        if data.get("backend_description"):
            click.echo(f"Secrets backend:    {data['backend_description']}")
        if data.get("secrets_store"):
            click.echo(f"Server secrets:     {data['secrets_store']} secrets store on the server")
        click.echo(f"Connection:         {data.get('connection', 'unknown')}")
    if broken:
        raise SystemExit(1)
