"""Reaching kitaru's store, under both wings: its SQLite file, or a server's REST API.

The secret store wing (:mod:`kitaru._store`) and ZenML's execution modules
(:mod:`kitaru._zenml`) both read the same two places without importing ZenML:
the embedded store's database, opened with ``sqlite3`` (read as an immutable file
when the disk is full), and a ZenML server of the pinned version, spoken to with
httpx under kitaru's login (an API key's token is kept between commands, see
:mod:`kitaru._config.token_cache`). Neither wing owns these, so they live here.
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kitaru._config import config_dir, per_process_cache, token_cache
from kitaru._config.connection import (
    ServerCredentials,
    credentials_for,
    exchange_expiring,
    http_client,
    normalize_url,
    not_logged_in,
    rejected,
    require_secure,
    server_info,
)
from kitaru._config.disk_space import disk_full_error, full_disk_file
from kitaru.errors import BackendError, ServerUnavailableError

SCHEMA_VERSION = "0.98.0"
"""The ZenML version whose store schema and REST API kitaru reads directly."""
API = "/api/v1"
PAGE_SIZE = 100
_RETRY_STATUS = frozenset({429, 502, 503, 504})
#: A listing's items as the server sends them.
Items = list[dict[str, Any]]

# --------------------------------------------------------------------------- SQLite


def format_id(hex_id: str) -> str:
    """A stored 32-hex ID in the canonical dashed form ZenML reports."""
    return str(uuid.UUID(hex_id))


def iso(stamp: str | None) -> str | None:
    if stamp is None:
        return None
    try:
        return _dt.datetime.fromisoformat(str(stamp)).isoformat()
    except ValueError:
        return str(stamp)


def damaged_store_error(db: os.PathLike[str]) -> BackendError:
    """The error for a store database that SQLite cannot read."""
    return BackendError(
        f"The local store database {db} is damaged (not a readable SQLite database). "
        "Restore it from your backup, or move it away to start an empty store; kitaru "
        "did not change anything.",
        operation="open",
    )


def open_store(db: Path) -> tuple[sqlite3.Connection, bool]:
    """A connection to ``db``; read-only (second item True) if its disk is full.

    On a full disk SQLite cannot even create the shared-memory file a reader of a
    WAL database needs. If no write is pending in the WAL, the database file alone
    is the whole store, and reading it as an immutable file is exact.
    """
    conn = sqlite3.connect(str(db), timeout=30, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        return conn, False
    except sqlite3.OperationalError as exc:
        conn.close()
        if full_disk_file(exc, db) is None:
            raise
    conn = _immutable(db)
    conn.row_factory = sqlite3.Row
    return conn, True


def _immutable(db: Path) -> sqlite3.Connection:
    """``db`` read as an immutable file, exact only while no write is pending in its WAL."""
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise disk_full_error(db, verb="read")
    return sqlite3.connect(f"file:{db}?immutable=1", uri=True, isolation_level=None)


def open_read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection to ``db`` that also reads it when its disk is full (see open_store).

    Raises:
        sqlite3.Error: SQLite cannot read the file (for another reason than a full disk).
        BackendError: the disk is full and a write is pending in the WAL.
    """
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if full_disk_file(exc, db) is None:
            raise
    return _immutable(db)


def first_row(db: Path, sql: str) -> Any:
    """The first row ``sql`` reads from ``db`` opened read-only, or None.

    Raises:
        sqlite3.Error: SQLite cannot read the file.
        BackendError: the disk is full and a write is pending in the WAL.
    """
    conn = open_read_only(db)
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


# --------------------------------------------------------------------------- REST


class HttpStatus(Exception):
    """An HTTP error answer: status code and ZenML's exception name (if it gave one)."""

    def __init__(self, status: int, error: str | None) -> None:
        super().__init__(f"HTTP {status} ({error or 'no detail'})")
        self.status = status
        self.error = error


def _error_name(resp: Any) -> str | None:
    try:
        detail = resp.json().get("detail")
    except (ValueError, AttributeError):
        return None
    if isinstance(detail, list) and detail and isinstance(detail[0], str):
        return detail[0]
    return None


class RestSession:
    """kitaru's login on a ZenML server, and its requests over REST."""

    def __init__(self, url: str, credentials: ServerCredentials | None = None) -> None:
        self.url = url
        self._creds = credentials or credentials_for(url)
        self._token: str | None = None
        self._from_cache = False
        self._lock = threading.Lock()
        self._http: Any = None

    def _client(self) -> Any:
        with self._lock:
            if self._http is None:
                self._http = http_client(self.url)
            if self._token is None:
                self._token = self._login()
            return self._http

    def _login(self) -> str:
        """A token: the credential itself, or one exchanged for the API key (cached)."""
        creds = self._creds
        if creds is None:
            raise not_logged_in(self.url)
        if creds.kind != "api_key":
            return creds.credential
        cached = token_cache.load(self.url, creds.credential)
        if cached is not None:
            self._from_cache = True
            return cached
        form = {"password": creds.credential}
        token, lifetime = exchange_expiring(self.url, form, "the API key")
        token_cache.save(self.url, creds.credential, token, lifetime)
        self._from_cache = False
        return token

    def _relogin(self) -> bool:
        """After a 401: drop a cached token and log in afresh; False if nothing changes."""
        with self._lock:
            if not self._from_cache:
                return False
            token_cache.drop(self.url)
            self._token = None
            self._from_cache = False
        self._client()
        return True

    def request(self, method: str, path: str, operation: str, **kwargs: Any) -> Any:
        """One API call; the JSON answer, or :class:`HttpStatus` for an error status."""
        resp = self.response(method, path, operation, **kwargs)
        return resp.json() if resp.content else None

    def response(self, method: str, path: str, operation: str, **kwargs: Any) -> Any:
        """One API call; the ``httpx.Response``, or :class:`HttpStatus` for an error status."""
        import httpx

        client = self._client()
        headers = {"Authorization": f"Bearer {self._token}"}
        for attempt in range(4):
            try:
                resp = client.request(method, self.url + API + path, headers=headers, **kwargs)
            except httpx.ConnectError as exc:
                # Nothing was sent: one quick retry for a server that is restarting.
                if attempt:
                    raise ServerUnavailableError(
                        self.url, operation=operation, reason=type(exc).__name__
                    ) from None
                time.sleep(0.5)
                continue
            except httpx.TransportError as exc:
                raise ServerUnavailableError(
                    self.url, operation=operation, reason=type(exc).__name__
                ) from None
            finally:
                client.cookies.clear()  # authenticate by token only, never by a cookie
            if resp.status_code in _RETRY_STATUS and attempt < 3:
                time.sleep(0.25 * (attempt + 1))
                continue
            if resp.status_code == 401:
                # A kept token the server no longer takes (expired early, key
                # rotated): one fresh login, then the request again.
                if self._relogin():
                    headers = {"Authorization": f"Bearer {self._token}"}
                    continue
                assert self._creds is not None
                raise rejected(self.url, self._creds)
            if resp.status_code >= 400:
                raise HttpStatus(resp.status_code, _error_name(resp))
            return resp
        raise BackendError(f"{operation} on {self.url} failed: the server stayed busy.")

    def get_all(self, path: str, operation: str) -> Items:
        """Every item of a listing endpoint (``/stacks``, ``/components``), hydrated."""
        items: Items = []
        page = 1
        while True:
            query = {"hydrate": "true", "size": PAGE_SIZE, "page": page}
            try:
                data = self.request("GET", path, operation, params=query)
            except HttpStatus as exc:
                raise BackendError(
                    f"Reading {path.strip('/')} from {self.url} failed: {exc}", operation=operation
                ) from None
            items.extend(data.get("items") or [])
            if page >= int(data.get("total_pages") or 1):
                return items
            page += 1

    def get_json(self, path: str, operation: str, params: dict[str, Any]) -> Any:
        """One GET of a read endpoint (``/runs``, ``/stacks/ID``): its JSON answer."""
        try:
            return self.request("GET", path, operation, params=params)
        except HttpStatus as exc:
            raise BackendError(
                f"Reading {path.strip('/')} from {self.url} failed: {exc}", operation=operation
            ) from None

    def current_user(self) -> str | None:
        """The name of the user kitaru is logged in as."""
        data = self.request("GET", "/current-user", "connect")
        return str(data.get("name")) if isinstance(data, dict) and data.get("name") else None


_sessions_lock = threading.Lock()
# kitaru's session per config directory and server (None: not the pinned version).
_sessions: dict[str, RestSession | None] = per_process_cache({})


def pinned_session(url: str) -> RestSession | None:
    """kitaru's session on the server ``url`` if it runs the pinned version, else None.

    The server's version is asked once per process and config directory.
    """
    url = normalize_url(url)
    require_secure(url)  # before any request, not only the ones that carry the key
    key = f"{config_dir()}|{url}"
    with _sessions_lock:
        if key in _sessions:
            return _sessions[key]
    session = RestSession(url) if server_info(url).get("version") == SCHEMA_VERSION else None
    with _sessions_lock:
        return _sessions.setdefault(key, session)


def is_connection_error(exc: BaseException) -> bool:
    """True if ``exc`` means the store could not be reached (by exception type only).

    Covers the builtin ``ConnectionError``/``TimeoutError`` and the transport errors
    of httpx, requests and urllib3, each checked only if that library is loaded.
    """
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    types: list[type[BaseException]] = []
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        types.append(httpx.TransportError)
    requests_exc = sys.modules.get("requests.exceptions")
    if requests_exc is not None:
        types += [requests_exc.ConnectionError, requests_exc.Timeout]
    urllib3_exc = sys.modules.get("urllib3.exceptions")
    if urllib3_exc is not None:
        types += [urllib3_exc.MaxRetryError, urllib3_exc.NewConnectionError]
    return isinstance(exc, tuple(types))
