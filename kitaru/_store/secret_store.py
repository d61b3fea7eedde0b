"""The one place that picks the secret backend (see :mod:`kitaru._store.backend`).

:func:`backend` chooses once per process and configuration (config directory,
server URL, ``KITARU_DISABLE_FAST_STORE``):

- a server (``KITARU_SERVER_URL`` or ``kitaru login``) of the pinned ZenML version
  -> :class:`~kitaru._store.rest_backend.RestServerBackend` (REST over httpx);
  a server of another version -> :class:`~kitaru._store.zenml_backend.ZenMLBackend`;
- in a flow process an orchestrator started -> ZenML's client as that process has it;
- the embedded store (copied into place first if new, see
  :mod:`kitaru._zenml.store_template`), verified by
  :func:`kitaru._store.local_sqlite.connect`
  -> :class:`~kitaru._store.sqlite_backend.DirectSqliteBackend`; one kitaru
  cannot verify -> :class:`~kitaru._store.zenml_backend.ZenMLBackend`.

:func:`get_secret` and :func:`updated_at` are the two calls the runtime makes
(the execution scope's ``fetch_secret`` and its rotation check).
"""

from __future__ import annotations

import os
import sys
import threading

from kitaru._config import config_dir, connection, paths, per_process_cache
from kitaru._store import local_sqlite
from kitaru._store.backend import SecretBackend, StoredSecret

ENV_DISABLE_FAST_STORE = "KITARU_DISABLE_FAST_STORE"

_lock = threading.Lock()
# The chosen backend, under the configuration it was chosen for (one entry at most).
_chosen: dict[str, SecretBackend] = per_process_cache({})


def _config_key() -> str:
    url = connection.server_url()
    if url:
        return f"{config_dir()}|{url}"
    # A store created by ZenML in this process is then read directly.
    fast = "off" if os.environ.get(ENV_DISABLE_FAST_STORE) else "on"
    return f"{config_dir()}||{fast}|{paths().local_store_db.exists()}"


def backend() -> SecretBackend:
    """The secret backend for the current configuration (chosen once, then reused)."""
    key = _config_key()
    with _lock:
        found = _chosen.get(key)
        if found is not None:
            return found
        chosen = _choose()
        _chosen.clear()
        _chosen[key] = chosen
        return chosen


def _choose() -> SecretBackend:
    url = connection.server_url()
    if "zenml" in sys.modules:
        from kitaru._zenml import client

        if client.adopted():
            # A flow process an orchestrator started: its ZenML client already
            # holds the run's store connection (and credentials kitaru never saw).
            from kitaru._store.zenml_backend import ZenMLBackend

            return ZenMLBackend(url or "the run's store", server=bool(url))
    if url:
        from kitaru._config.connection import normalize_url
        from kitaru._config.store_access import pinned_session

        url = normalize_url(url)
        if pinned_session(url) is not None:
            from kitaru._store.rest_backend import RestServerBackend

            return RestServerBackend(url)
        from kitaru._store.zenml_backend import ZenMLBackend

        return ZenMLBackend(url, server=True)
    from kitaru._store.sqlite_backend import LOCAL_LABEL, DirectSqliteBackend

    if not os.environ.get(ENV_DISABLE_FAST_STORE):
        from kitaru._zenml.store_template import ensure_store

        # A new store is copied into place whole (no ZenML import); an existing one
        # is read without a lock (one being migrated reads as another schema).
        ensure_store()
        local = local_sqlite.connect()
        if local is not None:
            local.close()
            return DirectSqliteBackend()
    from kitaru._store.zenml_backend import ZenMLBackend

    return ZenMLBackend(LOCAL_LABEL)


def forget_backend() -> None:
    """Forget the chosen backend: the next call chooses again."""
    with _lock:
        _chosen.clear()


def forget() -> None:
    """Forget the chosen backend and ZenML's client (after login or logout)."""
    forget_backend()
    if "zenml" in sys.modules:
        from kitaru._zenml import server
        from kitaru._zenml.client import reset_client

        reset_client()
        server.forget_credentials()


def get_secret(ref: str) -> StoredSecret:
    """The secret ``ref`` names exactly (name or full ID); :class:`SecretNotFoundError` if none."""
    return backend().get(ref)


def updated_at(secret_id: str) -> str | None:
    """When the secret was last changed (metadata only; None if it is gone)."""
    return backend().updated_at(secret_id)
