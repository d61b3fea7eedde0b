"""``kitaru login`` and ``kitaru logout``: connect kitaru to a ZenML server."""

from __future__ import annotations

import os
import sys

import click

from kitaru.cli._base import json_option, print_json

LOGIN_HELP = """Connect kitaru to the ZenML server at URL (team mode).

\b
  kitaru login https://zenml.example.com              # prompts for username and password
  kitaru login http://127.0.0.1:8237 -u alice --stdin  # password from standard input
  kitaru login https://zenml.example.com --api-key     # a service account's API key
  kitaru login --local                                 # a dashboard on this machine

The password is exchanged for a session token; only the token is kept, in
server.json in kitaru's config directory (mode 0600). Neither is ever printed.
Afterwards every kitaru command, the SDK and flows use the server instead of the
local store. For CI and remote runs, set KITARU_SERVER_URL and KITARU_API_KEY
instead: no login and no file are needed. With --api-key the key itself is
kept in server.json (mode 0600).

A plain http:// URL to another machine is refused (credentials would travel
unencrypted) unless --allow-insecure or KITARU_ALLOW_INSECURE=1 says the server
sits behind a TLS proxy; the login then remembers that choice for its URL.

With --local, kitaru starts ZenML's server with its dashboard on 127.0.0.1 over
its own local store (the same runs and secrets) and prints the dashboard's URL;
`kitaru logout` stops it. This needs the server extra: pip install 'kitaru[server]'.
"""


def _read_stdin_line() -> str:
    data = sys.stdin.readline()
    return data[:-1] if data.endswith("\n") else data


@click.command("login", help=LOGIN_HELP)
@click.argument("url", required=False)
@click.option("-u", "--username", help="Your user name on the server (prompted if omitted).")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the password (or, with --api-key, the key) from standard input.",
)
@click.option(
    "--api-key", "use_api_key", is_flag=True, help="Log in with a service account's API key."
)
@click.option(
    "--allow-insecure",
    is_flag=True,
    help="Allow a plain http:// URL to another machine (a server behind a TLS proxy).",
)
@click.option(
    "--local", "local", is_flag=True, help="Start a local server with its dashboard and use it."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port of the local server on 127.0.0.1 (default 8237, or a free one).",
)
@json_option
def login_cmd(
    url: str | None,
    username: str | None,
    from_stdin: bool,
    use_api_key: bool,
    allow_insecure: bool,
    local: bool,
    port: int | None,
    as_json: bool,
) -> None:
    from kitaru._config import ENV_SERVER_URL, connection, paths
    from kitaru._store.secret_store import forget
    from kitaru.errors import KitaruValidationError

    if local:
        if url or username or from_stdin or use_api_key or allow_insecure:
            raise KitaruValidationError(
                "--local takes no URL, --username, --stdin, --api-key or --allow-insecure.",
                field="local",
            )
        from kitaru.cli.local_login import login_local

        login_local(port, as_json)
        return
    if port is not None:
        raise KitaruValidationError("--port applies only to --local.", field="port")

    url = url or os.environ.get(ENV_SERVER_URL, "").strip() or connection.saved_server_url()
    if not url:
        raise KitaruValidationError("Give the server URL: kitaru login URL.", field="url")
    url = connection.normalize_url(url)
    if url.startswith("http://") and not connection.is_loopback(url):
        connection.require_secure(url, allow=allow_insecure)
        click.echo(
            f"Warning: {url} is plain http; your credentials travel unencrypted unless a TLS "
            "proxy in front of the server protects them.",
            err=True,
        )
    if use_api_key:
        if username:
            raise KitaruValidationError("--username does not apply to --api-key.", field="username")
        key = (
            _read_stdin_line() if from_stdin else click.prompt("API key", hide_input=True, err=True)
        ).strip()
        if not key:
            raise KitaruValidationError("The API key is empty.", field="api_key")
        creds = connection.login_with_api_key(url, key, allow_insecure=allow_insecure)
        forget()
    else:
        if not username:
            if from_stdin:
                raise KitaruValidationError(
                    "--stdin reads only the password: give --username too.", field="username"
                )
            username = click.prompt("Username", err=True)
        password = (
            _read_stdin_line()
            if from_stdin
            else click.prompt("Password", hide_input=True, err=True)
        )
        if not password:
            raise KitaruValidationError("The password is empty.", field="password")
        creds = connection.login_with_password(
            url, str(username), password, allow_insecure=allow_insecure
        )
        del password
        forget()
    env_url = os.environ.get(ENV_SERVER_URL, "").strip().rstrip("/")
    if as_json:
        print_json(
            {
                "server_url": creds.url,
                "user": creds.user,
                "auth": creds.describe(),
                "login_file": str(paths().server_file),
            }
        )
    else:
        who = f" as {creds.user}" if creds.user else ""
        click.echo(f"Logged in to {creds.url}{who} ({creds.describe()}).")
        click.echo(
            f"Credentials kept in {paths().server_file} (mode 0600); the password is not stored."
        )
    if env_url and env_url != creds.url:
        click.echo(
            f"Note: {ENV_SERVER_URL}={env_url} is set and takes precedence over this login.",
            err=True,
        )


@click.command("logout")
@json_option
def logout_cmd(as_json: bool) -> None:
    """Forget the server login (stopping a local server); kitaru goes back to the local store."""
    from kitaru._config import ENV_SERVER_URL
    from kitaru._config.connection import logout
    from kitaru._store import listing_cache
    from kitaru._store.secret_store import forget
    from kitaru.cli.local_login import stop_if_local

    url = logout()
    if url:
        listing_cache.drop(url)
    forget()
    stopped = stop_if_local(url)
    env_url = os.environ.get(ENV_SERVER_URL, "").strip()
    if as_json:
        print_json(
            {
                "logged_out_of": url,
                "stopped_local_server": stopped,
                "server_url_env": env_url or None,
            }
        )
        return
    if stopped:
        click.echo(f"Stopped the local server at {stopped}.")
    if url:
        click.echo(
            f"Logged out of {url}; its session token and kept key names were deleted from "
            "this machine."
        )
    elif not stopped:
        click.echo("Not logged in to any server; nothing changed.")
    if env_url:
        click.echo(
            f"Note: {ENV_SERVER_URL}={env_url} is still set, so kitaru keeps using that server.",
            err=True,
        )
    else:
        click.echo("kitaru now uses the local store.")
