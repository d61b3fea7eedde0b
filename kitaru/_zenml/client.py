"""Opening ZenML on kitaru's own config directory.

This is the one place that points ZenML at kitaru's store. It imports zenml only
inside functions, so ``import kitaru`` stays light.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitaru._config import (
    ENV_CONFIG_PATH,
    ENV_SERVER_URL,
    Paths,
    config_dir,
    ensure_private_dir,
    file_lock,
    paths,
)
from kitaru._config.connection import server_config_dir, server_url
from kitaru._config.disk_space import disk_full_error, full_disk_file
from kitaru._config.store_dir import tighten_store
from kitaru._config.store_key import load_or_create_key
from kitaru.runtime.capture import redact_process_output
from kitaru.runtime.redaction import process_redactor

if TYPE_CHECKING:
    from zenml.client import Client

    from kitaru._config.store_access import RestSession

_lock = threading.RLock()
_client: Client | None = None
_client_root: str | None = None


def zenml_environment() -> dict[str, str]:
    """The ZenML environment variables that point ZenML at kitaru's store.

    These are configuration only (paths and class names), never credentials.
    """
    p = paths()
    url = server_url()
    env = {
        # A server gets its own ZenML client directory: logging in or out never
        # rewrites the embedded store's configuration.
        "ZENML_CONFIG_PATH": str(server_config_dir(url) if url else p.zenml),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_ENABLE_RICH_TRACEBACK": "false",
        "ZENML_LOGGING_VERBOSITY": os.environ.get("ZENML_LOGGING_VERBOSITY", "WARN"),
        "AUTO_OPEN_DASHBOARD": "false",
        # Raw JSON-able step arguments become parameters instead of an artifact
        # upload per call (the biggest per-step cost on the local store).
        "ZENML_PARAMETER_SIZE_THRESHOLD": os.environ.get("ZENML_PARAMETER_SIZE_THRESHOLD", "-1"),
    }
    if url:
        from kitaru._zenml.local_server_state import local_stores_path

        stores = local_stores_path(url)
        if stores:
            # The local server's artifact store is the embedded store's directory:
            # outputs written while connected stay readable after logout, and by it.
            env["ZENML_LOCAL_STORES_PATH"] = stores
    else:
        env["ZENML_SECRETS_STORE_TYPE"] = "custom"
        from kitaru._zenml.stored_paths import KEYED_STORE_CLASS_PATH

        env["ZENML_SECRETS_STORE_CLASS_PATH"] = KEYED_STORE_CLASS_PATH
    return env


# ZenML merges every variable with these prefixes into its store configuration
# and writes the result, in plain text, to its config.yaml. Variables meant for
# the user's own ZenML must not redirect kitaru's embedded store (``ZENML_STORE_URL``)
# or end up in kitaru's config file (``ZENML_SECRETS_STORE_ENCRYPTION_KEY``).
_STORE_ENV_PREFIXES = ("ZENML_STORE_", "ZENML_SECRETS_STORE_", "ZENML_BACKUP_SECRETS_STORE_")


def apply_environment() -> None:
    """Set the variables of :func:`zenml_environment` in ``os.environ`` (for a flow run)."""
    env = zenml_environment()
    if server_url():
        # The server connection is given to ZenML in memory (see server.py); a
        # ZENML_STORE_URL / ZENML_STORE_API_KEY meant for the user's own ZenML
        # would replace it, so none of these variables apply to kitaru's client.
        for key in [k for k in os.environ if k.startswith(_STORE_ENV_PREFIXES)]:
            del os.environ[key]
    else:
        # The caller's ZENML_LOCAL_STORES_PATH would put kitaru's outputs in its
        # own ZenML's directory.
        os.environ.pop("ZENML_LOCAL_STORES_PATH", None)
        for key in [k for k in os.environ if k.startswith(_STORE_ENV_PREFIXES)]:
            if key not in env:
                del os.environ[key]
    for key, value in env.items():
        os.environ[key] = value


def import_zenml() -> None:
    """Import zenml, if it is not yet, without letting it change the user's root logger.

    Call it before a function's own ``from zenml ...`` imports: zenml imported any
    other way first leaves its handlers on the root logger, at INFO (and httpx's
    request lines then reach the caller's stdout).
    """
    if "zenml" not in sys.modules:
        _import_zenml_keeping_logging()


def _import_zenml_keeping_logging() -> None:
    """Import zenml without letting it change the user's process (see ``process_state``)."""
    from kitaru._zenml.process_state import process_state_kept

    try:
        with process_state_kept():
            import zenml  # noqa: F401
    finally:
        # ZenML's own progress chatter ("Creating default stack...") is not for
        # kitaru's users; its errors still surface as kitaru errors.
        if not os.environ.get("KITARU_DEBUG"):
            logging.getLogger("zenml").setLevel(logging.ERROR)


def get_client() -> Client:
    """A ZenML ``Client`` on kitaru's store, created once per config directory and server."""
    global _client, _client_root
    root = f"{config_dir()}|{server_url() or ''}"
    with _lock:
        if _client is not None and _client_root == root:
            return _client
        apply_environment()
        store_ready = False
        if not server_url():
            from kitaru._zenml.store_template import ensure_store

            # A new store is copied into place whole; ZenML never creates one here.
            store_ready = ensure_store().state == "ok"
            # Fail with kitaru's own clear error before ZenML touches the store.
            load_or_create_key()
            # The store's metadata (secret names, key names) is for this user only.
            ensure_private_dir(paths().zenml)
        _import_zenml_keeping_logging()
        from zenml.client import Client
        from zenml.config.global_config import GlobalConfiguration

        _ensure_source_root()
        from kitaru._zenml.tuning import atomic_config_writes, zenml_paths_stay_kitarus

        atomic_config_writes()
        zenml_paths_stay_kitarus(current_zenml_paths)
        if _client_root is not None and _client_root != root:
            GlobalConfiguration._reset_instance()
            Client._reset_instance()
        from kitaru._zenml.server import login_environment, map_server_init_error

        url = server_url()
        try:
            if url:
                with login_environment():
                    client = _open(Client)
            elif store_ready:
                # A whole, up-to-date store: opening it changes no schema, so any
                # number of processes open it at once.
                client = _open(Client)
            else:
                # Creating or migrating a store must not run in two processes at once
                # (ZenML then fails half-way through the migration).
                with file_lock(paths().store_lock):
                    client = _open(Client)
                    # A store ZenML just created has the umask's modes: private now.
                    tighten_store(paths(), warn=False)
        except Exception as exc:
            if url:
                raise map_server_init_error(exc, url) from None
            if _is_damaged_database(exc):
                from kitaru._config.store_access import damaged_store_error

                raise damaged_store_error(paths().local_store_db) from None
            full = full_disk_file(exc, paths().local_store_db)
            if full is not None:
                raise disk_full_error(full, verb="open") from None
            raise
        from kitaru._zenml import tuning
        from kitaru._zenml.code_archive import exclude_credential_files

        tuning.apply(client)
        exclude_credential_files()
        _client, _client_root = client, root
        return client


def _is_damaged_database(exc: BaseException) -> bool:
    """True if SQLite reported the store file as not a database or corrupt."""
    import sqlite3

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        original = getattr(seen, "orig", None)  # SQLAlchemy keeps the driver's error here
        for candidate in (seen, original):
            if isinstance(candidate, sqlite3.DatabaseError) and candidate.sqlite_errorname in (
                "SQLITE_NOTADB",
                "SQLITE_CORRUPT",
            ):
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def _open(client_class: Any) -> Client:
    client: Client = client_class()
    _unwrap_init(lambda: client.zen_store)
    return client


def adopt_running_client() -> None:
    """Use ZenML's client as it is, in a process that ZenML's entrypoint started.

    An orchestrator runs a flow in a fresh process (a pod, a container, a
    subprocess) that ZenML has already pointed at the run's store through
    environment variables it hands over (``ZENML_STORE_URL``, a run token, the
    secrets-store class). kitaru then reads secrets from that store instead of
    opening its own configuration. In the caller's process (the local
    orchestrator) kitaru's client is already open and this does nothing.
    """
    global _client, _client_root
    with _lock:
        if _client is not None:
            return
        from zenml.client import Client

        client = Client()
        config = client.zen_store.config
        url = str(getattr(config, "url", "") or "")
        if url.startswith(("http://", "https://")):
            os.environ[ENV_SERVER_URL] = url.rstrip("/")
        else:
            root = _kitaru_root_of(getattr(config, "database", None))
            if root is not None:
                os.environ[ENV_CONFIG_PATH] = str(root)
        _client, _client_root = client, f"{config_dir()}|{server_url() or ''}"
        _adopted.add(_client_root)
        # This is an orchestrator's process: its output goes to a log (the
        # process's, a pod's), never to the user's terminal, so it is redacted.
        redact_process_output(process_redactor().redact)


_adopted: set[str] = set()


def current_zenml_paths() -> dict[str, str] | None:
    """The ZenML path variables of kitaru's open client (None: none open, or adopted)."""
    with _lock:
        if _client is None or _client_root in _adopted:
            return None
    env = zenml_environment()
    return {k: env[k] for k in ("ZENML_CONFIG_PATH", "ZENML_LOCAL_STORES_PATH") if k in env}


def adopted() -> bool:
    """True if this process uses a ZenML client its orchestrator set up (see above)."""
    return f"{config_dir()}|{server_url() or ''}" in _adopted


def server_session() -> RestSession | None:
    """kitaru's REST session on its server, if that runs the pinned version; else None.

    None also in a flow process an orchestrator started: its ZenML client holds
    the run's connection, with credentials kitaru may never have seen.
    """
    url = server_url()
    if not url or adopted():
        return None
    from kitaru._config.store_access import pinned_session

    return pinned_session(url)


def _kitaru_root_of(database: Any) -> Path | None:
    """kitaru's config directory that holds the SQLite ``database``, if it is one."""
    if not database:
        return None
    db = Path(str(database)).expanduser().resolve()
    if len(db.parents) <= 3:
        return None
    root = db.parents[3]
    return root if Paths(root).local_store_db == db else None


def _ensure_source_root() -> None:
    """Give ZenML a source root where the main module has no file (``python -c``, REPL).

    ZenML resolves the keyed secrets-store class (and user code) relative to a
    source root, which it otherwise derives from ``__main__.__file__``.
    """

    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__file__", None):
        return
    from zenml.utils import source_utils

    if source_utils._CUSTOM_SOURCE_ROOT is None:
        source_utils.set_custom_source_root(os.getcwd())


def reset_client() -> None:
    """Forget the cached client (after login/logout or a config-directory change)."""
    global _client, _client_root
    with _lock:
        if _client is None:
            return
        from zenml.client import Client
        from zenml.config.global_config import GlobalConfiguration

        GlobalConfiguration._reset_instance()
        Client._reset_instance()
        _client, _client_root = None, None


def _unwrap_init(fn: Any) -> Any:
    """Run ``fn``; surface kitaru errors that ZenML wrapped during store init."""
    from kitaru.errors import KitaruError

    try:
        return fn()
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, KitaruError):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise
