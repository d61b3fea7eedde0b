"""Which ZenML server kitaru talks to, and the credentials for it (no ZenML import).

Two ways to authenticate, both kept out of ZenML's own files:

- ``kitaru login URL`` exchanges a username and password for a session token
  (``POST /api/v1/login``). Only the token is kept, in ``server.json`` in kitaru's
  config directory (mode 0600, written atomically); the password is never stored.
- ``KITARU_SERVER_URL`` + ``KITARU_API_KEY`` (a service account's API key, for
  CI and remote runs) need no login file at all.

Logging in speaks the server's REST API with ``httpx``, the same token exchange
ZenML's client makes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from kitaru._config import (
    ENV_ALLOW_INSECURE,
    ENV_API_KEY,
    ENV_SERVER_URL,
    paths,
    per_process_cache,
    tighten_mode,
    token_cache,
    write_private_file,
)
from kitaru.errors import KitaruValidationError, ServerLoginError, ServerUnavailableError

HTTP_TIMEOUT_S = 30
_FILE_VERSION = 1


@dataclass(frozen=True)
class ServerCredentials:
    """How kitaru authenticates to one server. ``repr`` never shows the credential."""

    url: str
    kind: Literal["token", "api_key"]
    credential: str = field(repr=False)
    user: str | None = None
    source: Literal["login", "environment"] = "login"

    def describe(self) -> str:
        """How kitaru authenticates, in words (never the credential)."""
        if self.kind == "api_key":
            where = "KITARU_API_KEY" if self.source == "environment" else "kitaru login --api-key"
            return f"API key ({where})"
        return "session token (kitaru login)"


# --------------------------------------------------------------------------- URLs


def server_url() -> str | None:
    """The ZenML server kitaru talks to, or None for the embedded store."""
    url = os.environ.get(ENV_SERVER_URL, "").strip()
    if url:
        return url.rstrip("/")
    return saved_server_url()


def normalize_url(url: str) -> str:
    """``url`` without trailing slashes, checked to be ``http(s)://host[:port][/path]``."""
    text = (url or "").strip().rstrip("/")
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise KitaruValidationError(
            f"Invalid server URL {text!r}: expected http(s)://HOST[:PORT], "
            "for example https://zenml.example.com or http://127.0.0.1:8237.",
            field="url",
        )
    if parsed.username or parsed.password:
        raise KitaruValidationError(
            "Do not put credentials into the server URL; kitaru login asks for them.",
            field="url",
        )
    return text


def is_loopback(url: str) -> bool:
    """True for a server on this machine.

    An IP address counts by its value, ``localhost`` by name; any other name
    (``127.0.0.1.example.com`` too) only if every address it resolves to is a
    loopback address.
    """
    return _host_is_loopback(urlparse(url).hostname or "")


@per_process_cache
@functools.lru_cache(maxsize=64)
def _host_is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses
    )


def insecure_allowed(url: str) -> bool:
    """True if the user opted in to plain http for ``url`` (environment or login)."""
    if os.environ.get(ENV_ALLOW_INSECURE, "").strip().lower() in ("1", "true", "yes"):
        return True
    data = _read_login_file()
    return bool(data and data.get("allow_insecure") is True and data.get("url") == url)


def require_secure(url: str, *, allow: bool = False) -> None:
    """Refuse to send a credential to ``url`` over plain http to another machine.

    Plain http is fine on loopback, and where the user opted in (a server inside
    a cluster behind a TLS proxy): ``allow``, ``KITARU_ALLOW_INSECURE=1`` or a
    ``kitaru login --allow-insecure`` for this URL.
    """
    if not url.startswith("http://") or allow or is_loopback(url) or insecure_allowed(url):
        return
    raise KitaruValidationError(
        f"Refusing to send credentials to {url}: plain http to another machine carries "
        "them unencrypted. Use https://, or opt in with --allow-insecure / "
        f"{ENV_ALLOW_INSECURE}=1 for a server behind a TLS proxy in your cluster.",
        field="url",
    )


def server_config_dir(url: str) -> Path:
    """ZenML's client config directory for ``url`` (no credentials in it)."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return paths().root / "zenml-servers" / digest


# --------------------------------------------------------------- the login file


# server.json parsed once per process and config path, again when its inode, size or
# mtime change: the backend chooser and ZenML's client ask for it on every call.
_login_files: dict[Path, tuple[tuple[int, int, int], dict[str, Any] | None]] = per_process_cache({})
_login_lock = threading.Lock()


def _read_login_file() -> dict[str, Any] | None:
    f = paths().server_file
    with _login_lock:
        try:
            st = f.stat()
        except OSError:
            _login_files.pop(f, None)
            return None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = _login_files.get(f)
        if cached is None or cached[0] != stamp:
            cached = _login_files[f] = (stamp, _parse_login_file(f))
        return cached[1]


def _parse_login_file(f: Path) -> dict[str, Any] | None:
    tighten_mode(f)  # same care as the secret store key
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("url") else None


def saved_server_url() -> str | None:
    """The server URL saved by ``kitaru login``, if any."""
    data = _read_login_file()
    return str(data["url"]).rstrip("/") if data else None


def saved_credentials() -> ServerCredentials | None:
    """The credentials saved by ``kitaru login``, if any."""
    data = _read_login_file()
    if not data:
        return None
    kind = data.get("auth")
    secret = data.get("token") if kind == "token" else data.get("api_key")
    if kind not in ("token", "api_key") or not isinstance(secret, str) or not secret:
        return None
    return ServerCredentials(
        url=str(data["url"]).rstrip("/"),
        kind=kind,
        credential=secret,
        user=data.get("user"),
        source="login",
    )


def credentials_for(url: str) -> ServerCredentials | None:
    """The credentials kitaru uses for ``url``: ``KITARU_API_KEY`` first, then the login."""
    key = os.environ.get(ENV_API_KEY, "").strip()
    if key:
        require_secure(url)
        return ServerCredentials(url=url, kind="api_key", credential=key, source="environment")
    saved = saved_credentials()
    if saved is not None and saved.url == url:
        require_secure(url)
        return saved
    return None


def not_logged_in(url: str) -> ServerLoginError:
    """The error for a server kitaru has no credentials for."""
    return ServerLoginError(
        f"kitaru is set to use the server at {url} but has no credentials for it. Run "
        f"`kitaru login {url}`, or set {ENV_API_KEY} (a service account's API key) "
        f"together with {ENV_SERVER_URL}.",
        url=url,
    )


def rejected(url: str, creds: ServerCredentials) -> ServerLoginError:
    """The error for credentials the server refused (HTTP 401)."""
    if creds.kind == "api_key":
        how = f"check {ENV_API_KEY}" if creds.source == "environment" else "run `kitaru login`"
        return ServerLoginError(
            f"The server at {url} rejected the API key ({how}; the key may have been "
            "rotated or deactivated).",
            url=url,
        )
    return ServerLoginError(
        f"The server at {url} rejected kitaru's session (expired or revoked). Run "
        f"`kitaru login {url}` again.",
        url=url,
    )


def _save_login(
    url: str, kind: str, credential: str, user: str | None, allow_insecure: bool
) -> None:
    data: dict[str, Any] = {
        "version": _FILE_VERSION,
        "url": url,
        "auth": kind,
        "user": user,
        "logged_in_at": int(time.time()),
        ("token" if kind == "token" else "api_key"): credential,
    }
    if allow_insecure:
        data["allow_insecure"] = True
    write_private_file(paths().server_file, json.dumps(data, indent=2) + "\n")


# ------------------------------------------------------------- talking to a server


_clients: dict[tuple[bool, bool], Any] = per_process_cache({})
_clients_lock = threading.Lock()


def http_client(url: str) -> Any:
    """The process's ``httpx.Client`` for ``url`` (one per kind of URL).

    Certificates are loaded only for ``https://``, and proxy settings from the
    environment are read only for a server that is not on this machine: either
    costs more than a whole request to a local server.
    """
    import httpx

    key = (url.startswith("https://"), is_loopback(url))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            secure, local = key
            client = httpx.Client(timeout=HTTP_TIMEOUT_S, verify=secure, trust_env=not local)
            _clients[key] = client
        return client


def http_request(method: str, url: str, base: str, operation: str, **kwargs: Any) -> Any:
    """One HTTP request (no cookies kept); an unreachable server is ServerUnavailableError."""
    import httpx

    client = http_client(url)
    try:
        return client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise ServerUnavailableError(base, operation=operation, reason=type(exc).__name__) from None
    finally:
        client.cookies.clear()  # authenticate by token only, never by a session cookie


def exchange(url: str, form: dict[str, str], what: str) -> str:
    """POST the login form to ``url``; returns the access token."""
    return exchange_expiring(url, form, what)[0]


def exchange_expiring(url: str, form: dict[str, str], what: str) -> tuple[str, int | None]:
    """POST the login form to ``url``; returns the access token and its lifetime (seconds)."""
    resp = http_request("POST", f"{url}/api/v1/login", url, "login", data=form)
    if resp.status_code in (401, 403):
        raise ServerLoginError(f"Login to {url} failed: {what} was rejected.", url=url)
    if resp.status_code == 404:
        raise ServerLoginError(
            f"{url} does not look like a ZenML server (no /api/v1/login).", url=url
        )
    if resp.status_code >= 400:
        raise ServerLoginError(
            f"Login to {url} failed: the server answered HTTP {resp.status_code}.", url=url
        )
    try:
        answer = resp.json()
        token = answer["access_token"]
    except (ValueError, KeyError, TypeError):
        raise ServerLoginError(
            f"Login to {url} failed: unexpected answer from the server.", url=url
        ) from None
    lifetime = answer.get("expires_in") if isinstance(answer, dict) else None
    return str(token), lifetime if isinstance(lifetime, int) and lifetime > 0 else None


def current_user(url: str, token: str) -> str | None:
    """The name of the user ``token`` belongs to, or None if the server will not say."""
    headers = {"Authorization": f"Bearer {token}"}
    resp = http_request("GET", f"{url}/api/v1/current-user", url, "login", headers=headers)
    if resp.status_code != 200:
        return None
    with contextlib.suppress(ValueError, AttributeError):
        name = resp.json().get("name")
        return str(name) if name else None
    return None


def server_info(url: str) -> dict[str, Any]:
    """``GET /api/v1/info``; raises ServerLoginError if ``url`` is no ZenML server."""
    resp = http_request("GET", f"{url}/api/v1/info", url, "connect")
    if resp.status_code != 200:
        raise ServerLoginError(
            f"{url} does not look like a ZenML server (GET /api/v1/info gave HTTP "
            f"{resp.status_code}).",
            url=url,
        )
    try:
        info = resp.json()
    except ValueError:
        raise ServerLoginError(f"{url} does not look like a ZenML server.", url=url) from None
    return info if isinstance(info, dict) else {}


def login_with_password(
    url: str, username: str, password: str, *, allow_insecure: bool = False
) -> ServerCredentials:
    """Exchange ``username``/``password`` for a session token and save only the token."""
    url = normalize_url(url)
    require_secure(url, allow=allow_insecure)
    server_info(url)
    form = {"username": username, "password": password}
    token = exchange(url, form, "the username or password")
    user = current_user(url, token) or username
    _save_login(url, "token", token, user, allow_insecure)
    return ServerCredentials(url, "token", token, user, "login")


def login_with_api_key(
    url: str, api_key: str, *, allow_insecure: bool = False
) -> ServerCredentials:
    """Check a service-account API key against the server and save it."""
    url = normalize_url(url)
    require_secure(url, allow=allow_insecure)
    server_info(url)
    token, lifetime = exchange_expiring(url, {"password": api_key}, "the API key")
    token_cache.save(url, api_key, token, lifetime)  # the next command needs no login
    user = current_user(url, token)
    _save_login(url, "api_key", api_key, user, allow_insecure)
    return ServerCredentials(url, "api_key", api_key, user, "login")


def logout() -> str | None:
    """Remove the saved login; returns the URL it was for (None if there was none)."""
    url = saved_server_url()
    f = paths().server_file
    if f.exists():
        f.unlink()
    if url:
        token_cache.drop(url)
    return url
