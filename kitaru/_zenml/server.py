"""ZenML's own client on a server: the connection kitaru's ZenML client uses.

Used only where ZenML itself must talk to the server: flows and, when the
server's version is not the one kitaru speaks over REST, secret operations
(:mod:`kitaru._store.zenml_backend`).

The credential (see :mod:`kitaru._config.connection`) is handed to ZenML's REST
store configuration in memory only: ZenML's on-disk credentials cache
(``credentials.yaml``) is switched off (``DISABLE_CREDENTIALS_DISK_CACHING``),
so ZenML never writes the token, key or password anywhere. No credential is put
into ``os.environ``. ZenML's client state for a server lives in its own
directory (``zenml-servers/<hash of the URL>/``), apart from the embedded
store's, so a login or logout never touches the local store's configuration.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from kitaru._config import ensure_private_dir, tighten_mode
from kitaru._config.connection import (
    HTTP_TIMEOUT_S,
    ServerCredentials,
    credentials_for,
    http_client,
    normalize_url,
    not_logged_in,
    rejected,
    server_config_dir,
    server_url,
)
from kitaru._config.store_access import is_connection_error
from kitaru.errors import BackendError, KitaruError, ServerUnavailableError

# ZenML reads this variable (no ZENML_ prefix) on every load/save of its credentials cache.
DISABLE_DISK_CACHE_VAR = "DISABLE_CREDENTIALS_DISK_CACHING"


@contextlib.contextmanager
def login_environment() -> Iterator[None]:
    """Scope in which ZenML's client is created: points it at the server, in memory.

    Outside server mode this does nothing. In server mode the REST store
    configuration (URL plus credential) is given to ZenML's global configuration
    directly; ZenML moves the credential into its credentials store, whose disk
    cache is off, so it stays in this process's memory.
    """
    url = server_url()
    if not url:
        yield
        return
    url = normalize_url(url)
    creds = credentials_for(url)
    if creds is None:
        raise not_logged_in(url)
    _preflight(url)
    os.environ[DISABLE_DISK_CACHE_VAR] = "true"
    zenml_dir = ensure_private_dir(server_config_dir(url))
    tighten_mode(zenml_dir)
    tighten_mode(zenml_dir.parent)
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
        raise map_server_init_error(exc, url) from None
    _tune_session(GlobalConfiguration().zen_store)
    yield


def forget_credentials() -> None:
    """Drop ZenML's in-memory credentials (after login/logout), if ZenML is loaded."""
    from zenml.login.credentials_store import CredentialsStore

    with contextlib.suppress(Exception):
        CredentialsStore._clear()


def _preflight(url: str) -> None:
    """Fail fast (one request, no retries) if nothing answers at ``url``.

    ZenML's store would otherwise retry a refused connection for about 30 s
    before kitaru could tune its session.
    """
    import httpx

    for attempt in range(2):
        try:
            http_client(url).get(f"{url}/health", timeout=10)
            return
        except httpx.ConnectError as exc:
            if attempt:  # one quick second try for a server that is just restarting
                raise ServerUnavailableError(
                    url, operation="connect", reason=type(exc).__name__
                ) from None
            time.sleep(0.5)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(
                url, operation="connect", reason=type(exc).__name__
            ) from None


def map_server_init_error(exc: BaseException, url: str) -> KitaruError:
    """A kitaru error for a failure while creating the client on ``url``."""
    return server_failure(exc, url) or BackendError(
        f"Connecting to the server at {url} failed: {type(exc).__name__}.", operation="connect"
    )


def server_failure(
    exc: BaseException, url: str, *, operation: str = "connect", reason: str = "connection failed"
) -> KitaruError | None:
    """The kitaru error for a refused login or an unreachable server at ``url``, else None.

    The one rule (by exception type) for ZenML's errors about the server, used
    while the client connects and by calls through ZenML's client
    (:mod:`kitaru._store.zenml_backend`); each caller maps any other failure.
    """
    if isinstance(exc, KitaruError):
        return exc
    from zenml.exceptions import AuthorizationException

    if isinstance(exc, AuthorizationException):
        creds = credentials_for(url) or ServerCredentials(url, "token", "", None, "login")
        return rejected(url, creds)
    if is_connection_error(exc):
        return ServerUnavailableError(url, operation=operation, reason=reason)
    return None


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
