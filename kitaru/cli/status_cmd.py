"""``kitaru init`` and ``kitaru status``."""

from __future__ import annotations

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
    from kitaru._zenml.client import get_client, server_url

    project = Path.cwd() / ".kitaru"
    if project.is_dir():
        click.echo(f"Already initialized: {project} exists; nothing changed there.")
    else:
        project.mkdir()
        (project / ".gitignore").write_text("*\n", encoding="utf-8")
        click.echo(f"Created {project} (project marker for kitaru).")
    had_store = paths().local_store_db.exists()
    get_client()
    if server_url():
        click.echo(f"Using the kitaru/ZenML server at {server_url()}.")
    elif had_store:
        click.echo(f"Using the existing local store in {config_dir()}.")
    else:
        click.echo(f"Created the local store in {config_dir()} (secrets encrypted at rest).")


def status_data() -> dict[str, Any]:
    """What `kitaru status` reports, as a dict (no secrets)."""
    from kitaru._config import config_dir, paths
    from kitaru._zenml.client import server_url
    from kitaru._zenml.encryption import key_status

    p = paths()
    url = server_url()
    data: dict[str, Any] = {"config_path": str(config_dir())}
    if url:
        from kitaru._zenml.server import server_status

        data.update(server_status(url))
        return data
    key = key_status()
    data.update(
        {
            "store": "local",
            "store_location": str(p.local_store_db),
            "store_exists": p.local_store_db.exists(),
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
    return data


@click.command("status")
@json_option(show=True)
def status_cmd(as_json: bool) -> None:
    """Show where kitaru keeps its store, what kind it is, and if it is encrypted."""
    data = status_data()
    if as_json:
        print_json(data)
        return
    click.echo(f"Config directory:   {data['config_path']}")
    if data["store"] == "local":
        click.echo("Store:              local (embedded ZenML SQLite store)")
        state = "" if data["store_exists"] else " (created on first use)"
        click.echo(f"Store location:     {data['store_location']}{state}")
        click.echo(f"Encryption at rest: {data['encryption']}")
    else:
        click.echo(f"Store:              server (ZenML server at {data['store_location']})")
        click.echo(f"Server from:        {data.get('url_source', 'unknown')}")
        click.echo(f"User:               {data.get('user') or 'unknown'}")
        click.echo(f"Authentication:     {data.get('auth', 'unknown')}")
        if data.get("secrets_store"):
            click.echo(f"Server secrets:     {data['secrets_store']} secrets store on the server")
        click.echo(f"Connection:         {data.get('connection', 'unknown')}")
