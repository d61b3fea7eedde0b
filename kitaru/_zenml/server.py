"""Team mode: the ZenML server connection, and the credentials for it.

Two ways to authenticate, both kept out of ZenML's own files:

- ``kitaru login URL`` exchanges a username and password for a session token
  (``POST /api/v1/login``). Only the token is kept, in ``server.json`` in kitaru's
  config directory (mode 0600, written atomically); the password is never stored.
- ``KITARU_SERVER_URL`` + ``KITARU_API_KEY`` (a service account's API key, for
  CI and remote runs) need no login file at all.

When kitaru opens its ZenML client on a server, the credential is handed to
ZenML's REST store configuration in memory only: ZenML's on-disk credentials
cache (``credentials.yaml``) is switched off (``DISABLE_CREDENTIALS_DISK_CACHING``),
so ZenML never writes the token, key or password anywhere. No credential is put
into ``os.environ``.

ZenML's client state for a server lives in its own directory
(``zenml-servers/<hash of the URL>/``), apart from the embedded store's, so a
login or logout never touches the local store's configuration.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from kitaru._config import (
    ENV_API_KEY,
    ENV_SERVER_URL,
    ensure_private_dir,
    paths,
    write_private_file,
)
from kitaru.errors import (
    BackendError,
    KitaruValidationError,
    ServerLoginError,
    ServerUnavailableError,
)

# ZenML reads this variable (no ZENML_ prefix) on every load/save of its credentials cache.
DISABLE_DISK_CACHE_VAR = "DISABLE_CREDENTIALS_DISK_CACHING"
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
        if self.kind == "api_key":
            where = "KITARU_API_KEY" if self.source == "environment" else "kitaru login --api-key"
            return f"API key ({where})"
        return "session token (kitaru login)"


# --------------------------------------------------------------------------- URLs


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
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def server_config_dir(url: str) -> Path:
    """ZenML's client config directory for ``url`` (no credentials in it)."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return paths().root / "zenml-servers" / digest


# --------------------------------------------------------------- the login file


def _read_login_file() -> dict[str, Any] | None:
    f = paths().server_file
    if not f.exists():
        return None
    with contextlib.suppress(OSError):
        if os.stat(f).st_mode & 0o077:
            os.chmod(f, 0o600)  # same care as the secret store key
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
        return ServerCredentials(url=url, kind="api_key", credential=key, source="environment")
    saved = saved_credentials()
    if saved is not None and saved.url == url:
        return saved
    return None


def _save_login(url: str, kind: str, credential: str, user: str | None) -> None:
    data = {
        "version": _FILE_VERSION,
        "url": url,
        "auth": kind,
        "user": user,
        "logged_in_at": int(time.time()),
        ("token" if kind == "token" else "api_key"): credential,
    }
    write_private_file(paths().server_file, json.dumps(data, indent=2) + "\n")


# ------------------------------------------------------------- talking to a server


def _http(method: str, url: str, **kwargs: Any) -> Any:
    """One HTTP request; a server that cannot be reached is a ServerUnavailableError."""
    import requests

    base = kwargs.pop("base")
    try:
        return requests.request(method, url, timeout=HTTP_TIMEOUT_S, **kwargs)
    except requests.exceptions.RequestException as exc:
        raise ServerUnavailableError(base, operation="login", reason=type(exc).__name__) from None


def _exchange(url: str, form: dict[str, str], what: str) -> tuple[str, str | None]:
    """POST the login form; returns (access token, user name)."""
    resp = _http("POST", f"{url}/api/v1/login", data=form, base=url)
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
        token = resp.json()["access_token"]
    except (ValueError, KeyError, TypeError):
        raise ServerLoginError(
            f"Login to {url} failed: unexpected answer from the server.", url=url
        ) from None
    user = _current_user(url, token)
    return str(token), user


def _current_user(url: str, token: str) -> str | None:
    resp = _http(
        "GET", f"{url}/api/v1/current-user", headers={"Authorization": f"Bearer {token}"}, base=url
    )
    if resp.status_code != 200:
        return None
    with contextlib.suppress(ValueError, AttributeError):
        name = resp.json().get("name")
        return str(name) if name else None
    return None


def _check_server(url: str) -> dict[str, Any]:
    resp = _http("GET", f"{url}/api/v1/info", base=url)
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


def login_with_password(url: str, username: str, password: str) -> ServerCredentials:
    """Exchange ``username``/``password`` for a session token and save only the token."""
    url = normalize_url(url)
    _check_server(url)
    token, user = _exchange(
        url, {"username": username, "password": password}, "the username or password"
    )
    _save_login(url, "token", token, user or username)
    _forget_in_process()
    return ServerCredentials(url, "token", token, user or username, "login")


def login_with_api_key(url: str, api_key: str) -> ServerCredentials:
    """Check a service-account API key against the server and save it."""
    url = normalize_url(url)
    _check_server(url)
    _, user = _exchange(url, {"password": api_key}, "the API key")
    _save_login(url, "api_key", api_key, user)
    _forget_in_process()
    return ServerCredentials(url, "api_key", api_key, user, "login")


def logout() -> str | None:
    """Remove the saved login; returns the URL it was for (None if there was none)."""
    url = saved_server_url()
    f = paths().server_file
    if f.exists():
        f.unlink()
    _forget_in_process()
    return url


def _forget_in_process() -> None:
    """Drop this process's client and ZenML's in-memory credentials (after login/logout)."""
    import sys

    if "zenml" not in sys.modules:
        return
    from kitaru._zenml.client import reset_client

    reset_client()
    from zenml.login.credentials_store import CredentialsStore

    with contextlib.suppress(Exception):
        CredentialsStore._clear()


# ------------------------------------------------------ creating the ZenML client


def _not_logged_in(url: str) -> ServerLoginError:
    return ServerLoginError(
        f"kitaru is set to use the server at {url} but has no credentials for it. Run "
        f"`kitaru login {url}`, or set {ENV_API_KEY} (a service account's API key) "
        f"together with {ENV_SERVER_URL}.",
        url=url,
    )


@contextlib.contextmanager
def login_environment() -> Iterator[None]:
    """Scope in which ZenML's client is created: points it at the server, in memory.

    Outside server mode this does nothing. In server mode the REST store
    configuration (URL plus credential) is given to ZenML's global configuration
    directly; ZenML moves the credential into its credentials store, whose disk
    cache is off, so it stays in this process's memory.
    """
    from kitaru._zenml.client import server_url

    url = server_url()
    if not url:
        yield
        return
    url = normalize_url(url)
    creds = credentials_for(url)
    if creds is None:
        raise _not_logged_in(url)
    _preflight(url)
    os.environ[DISABLE_DISK_CACHE_VAR] = "true"
    zenml_dir = ensure_private_dir(server_config_dir(url))
    with contextlib.suppress(OSError):
        os.chmod(zenml_dir, 0o700)
        os.chmod(zenml_dir.parent, 0o700)
    from zenml.config.global_config import GlobalConfiguration
    from zenml.login.credentials_store import get_credentials_store
    from zenml.zen_stores.rest_zen_store import RestZenStoreConfiguration

    get_credentials_store().clear_credentials(url)
    kwargs: dict[str, Any] = {"url": url, "http_timeout": HTTP_TIMEOUT_S}
    kwargs["api_key" if creds.kind == "api_key" else "api_token"] = creds.credential
    config = RestZenStoreConfiguration(**kwargs)
    try:
        GlobalConfiguration().set_store(config)
    except Exception as exc:  # noqa: BLE001 - mapped to kitaru errors below
        raise map_connect_error(exc, url, creds) from None
    _tune_session(GlobalConfiguration().zen_store)
    yield


def _preflight(url: str) -> None:
    """Fail fast (one request, no retries) if nothing answers at ``url``.

    ZenML's store would otherwise retry a refused connection for about 30 s
    before kitaru could tune its session.
    """
    import requests

    try:
        requests.get(f"{url}/health", timeout=10)
    except requests.exceptions.ConnectionError as exc:
        # One quick second try for a server that is just restarting.
        time.sleep(0.5)
        try:
            requests.get(f"{url}/health", timeout=10)
        except requests.exceptions.RequestException:
            raise ServerUnavailableError(
                url, operation="connect", reason=type(exc).__name__
            ) from None
    except requests.exceptions.RequestException as exc:
        raise ServerUnavailableError(url, operation="connect", reason=type(exc).__name__) from None


def map_server_init_error(exc: BaseException, url: str) -> Exception:
    """A kitaru error for a failure while creating the client on ``url``."""
    creds = credentials_for(url) or ServerCredentials(url, "token", "", None, "login")
    return map_connect_error(exc, url, creds)


def map_connect_error(exc: BaseException, url: str, creds: ServerCredentials) -> Exception:
    """A kitaru error for a failure while connecting to ``url``."""
    from kitaru.errors import KitaruError

    if isinstance(exc, KitaruError):
        return exc
    names = {c.__name__ for c in type(exc).__mro__}
    text = str(exc)
    if names & {"AuthorizationException", "CredentialsNotValid"} or "401" in text:
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
    if (
        names & {"ConnectionError", "MaxRetryError", "NewConnectionError", "Timeout"}
        or "Cannot connect" in text
        or "Connection refused" in text
    ):
        return ServerUnavailableError(url, operation="connect", reason="connection failed")
    return BackendError(
        f"Connecting to the server at {url} failed: {type(exc).__name__}.", operation="connect"
    )


def _tune_session(store: Any) -> None:
    """Fail within seconds when the server is gone, instead of ZenML's ~30 s of retries.

    ZenML retries a refused connection five times with exponential backoff
    (0+2+4+8+16 s). kitaru keeps two retries for a brief network hiccup (about
    1.5 s in all); a server that stays away ends the command with a clear error.
    """
    session = getattr(store, "session", None)
    if session is None:
        return
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retries = Retry(
        connect=2,
        read=1,
        redirect=3,
        status=3,
        other=1,
        allowed_methods=["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        status_forcelist=[408, 429, 502, 503, 504],
        backoff_factor=0.5,
        backoff_max=2,
    )
    pool = getattr(getattr(store, "config", None), "connection_pool_size", 10)
    adapter = HTTPAdapter(max_retries=retries, pool_maxsize=pool)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


# ------------------------------------------------------------------- kitaru status


def server_status(url: str) -> dict[str, Any]:
    """What ``kitaru status`` shows in server mode (never a credential)."""
    creds = credentials_for(url)
    data: dict[str, Any] = {
        "store": "server",
        "store_location": url,
        "server_url": url,
        "auth": creds.describe() if creds else "none (not logged in)",
        "login_file": str(paths().server_file) if creds and creds.source == "login" else None,
        "user": creds.user if creds else None,
    }
    if os.environ.get(ENV_SERVER_URL, "").strip():
        data["url_source"] = ENV_SERVER_URL
    else:
        data["url_source"] = "kitaru login"
    if creds is None:
        data["connection"] = f"not logged in: run `kitaru login {url}`"
        return data
    from kitaru._zenml.client import get_client
    from kitaru.errors import KitaruError

    try:
        client = get_client()
        data["user"] = client.active_user.name
        info = client.zen_store.get_store_info()
        data["server_version"] = str(info.version)
        data["secrets_store"] = str(getattr(info.secrets_store_type, "value", ""))
        data["connection"] = "ok"
    except KitaruError as exc:
        data["connection"] = f"error: {exc}"
    except Exception as exc:  # noqa: BLE001 - status reports, it does not raise
        data["connection"] = f"error: {map_connect_error(exc, url, creds)}"
    return data
