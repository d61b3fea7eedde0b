"""Exact secret lookups and writes on ZenML, with ZenML's errors mapped to kitaru's.

ZenML's ``Client.get_secret`` matches names by substring and IDs by prefix; nothing
here uses it. A reference is resolved to one full UUID first:

1. a full UUID is looked up by ID (a secret whose *name* looks like a UUID is
   refused at creation, so this is never ambiguous for kitaru-made secrets);
2. otherwise the name must match exactly; when the caller owns a private secret
   and a public secret has the same name, **the caller's private secret wins**
   (a personal override of a shared credential). The public one stays reachable
   by its full ID.

All writes and reads then go to ZenML's store by that ID.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kitaru._config import ensure_private_dir, paths
from kitaru._secret_validation import check_total_size, parse_full_uuid
from kitaru._zenml.client import get_client, server_url
from kitaru._zenml.local_sqlite import format_id as local_format_id
from kitaru.errors import (
    BackendError,
    EncryptionKeyError,
    InvalidSecretError,
    KitaruError,
    SecretExistsError,
    SecretNotFoundError,
    SecretVisibilityError,
    ServerUnavailableError,
)

T = TypeVar("T")

MAX_TOTAL_BYTES = 64 * 1024


@dataclass(frozen=True)
class StoredSecret:
    """A secret as read from the store. ``values`` maps unreadable keys to None."""

    id: str
    name: str
    private: bool
    values: Mapping[str, str | None] = field(repr=False)
    owner: str | None = None
    updated: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.values))

    @property
    def unavailable_keys(self) -> tuple[str, ...]:
        return tuple(sorted(k for k, v in self.values.items() if v is None))


def _store_label() -> str:
    return server_url() or "the local kitaru store"


def _call(operation: str, secret: str, fn: Callable[[], T]) -> T:
    """Run a ZenML call and map its errors to kitaru's (messages never hold values)."""
    get_client()  # configure ZenML (env, logging) before ``fn`` imports anything from it
    try:
        return fn()
    except KitaruError:
        raise
    except Exception as exc:  # noqa: BLE001 - mapped below, re-raised as KitaruError
        raise _map_error(exc, operation, secret) from None


def _map_error(exc: Exception, operation: str, secret: str) -> KitaruError:
    from zenml.exceptions import EntityExistsError, IllegalOperationError

    text = str(exc)
    if isinstance(exc, EntityExistsError):
        return SecretExistsError(secret, private="private" in text.lower())
    if isinstance(exc, IllegalOperationError):
        return SecretVisibilityError(secret, "only the user who created it may do that")
    if isinstance(exc, KeyError) and "could not be decoded" in text:
        return EncryptionKeyError(
            f"Secret {secret!r} cannot be decrypted with the current store key. Restore the "
            "original key file from your backup.",
            key_file=str(paths().key_file),
        )
    if isinstance(exc, KeyError):
        return SecretNotFoundError(secret)
    if _is_connection_error(exc):
        return ServerUnavailableError(
            _store_label(), operation=operation, reason=type(exc).__name__
        )
    if isinstance(exc, ValueError) and "maximum total size" in text:
        return InvalidSecretError(
            f"Secret {secret!r} is too large: keys and values together exceed "
            f"{MAX_TOTAL_BYTES // 1024} KiB of UTF-8.",
            secret=secret,
            field="values",
        )
    return BackendError(
        f"{operation} of secret {secret!r} failed in {_store_label()}: {type(exc).__name__}",
        operation=operation,
    )


def _is_connection_error(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & _CONNECTION_ERRORS) or "Connection refused" in str(exc)


_CONNECTION_ERRORS = frozenset(
    {"ConnectionError", "ConnectTimeout", "ReadTimeout", "MaxRetryError", "NewConnectionError"}
)


def _to_stored(resp: Any) -> StoredSecret:
    raw = resp.values  # Dict[str, Optional[SecretStr]]
    values = {k: (v.get_secret_value() if v is not None else None) for k, v in raw.items()}
    owner = None
    with contextlib.suppress(Exception):
        owner = resp.user.name if resp.user is not None else None
    updated = None
    with contextlib.suppress(Exception):
        updated = resp.updated.isoformat() if resp.updated is not None else None
    return StoredSecret(
        id=str(resp.id),
        name=resp.name,
        private=bool(resp.private),
        values=values,
        owner=owner,
        updated=updated,
    )


@contextlib.contextmanager
def _local() -> Iterator[Any]:
    """The embedded store's secret table without ZenML (see ``local_sqlite``), or None."""
    from kitaru._zenml import local_sqlite

    local = local_sqlite.connect()
    try:
        yield local
    finally:
        if local is not None:
            local.close()


def _from_row(local: Any, row: Any) -> StoredSecret:
    from kitaru._zenml.local_sqlite import format_id, updated_iso

    values: dict[str, str | None] = dict(local.decrypt(row["values"], row["name"]))
    return StoredSecret(
        id=format_id(row["id"]),
        name=row["name"],
        private=bool(row["private"]),
        values=values,
        owner=row["owner"],
        updated=updated_iso(row["updated"]),
    )


def updated_at(secret_id: str) -> str | None:
    """When the secret was last changed (metadata only; None if it is gone)."""
    with _local() as local:
        if local is not None:
            return local.updated_of(secret_id)  # type: ignore[no-any-return]

    def run() -> str | None:
        page = get_client().list_secrets(id=secret_id, size=1, hydrate=False)
        if not page.items:
            return None
        stamp = page.items[0].updated
        return stamp.isoformat() if stamp is not None else None

    return _call("read", secret_id, run)


def _find_id(ref: str) -> uuid.UUID | None:
    """Resolve ``ref`` (exact name or full ID) to one secret ID, or None."""
    client = get_client()
    as_uuid = parse_full_uuid(ref)
    if as_uuid is not None:
        page = client.list_secrets(id=str(as_uuid), size=1, hydrate=False)
        if page.items:
            return uuid.UUID(str(page.items[0].id))
    page = client.list_secrets(name=f"equals:{ref}", size=10, hydrate=False)
    matches = [s for s in page.items if s.name == ref]
    if not matches:
        return None
    matches.sort(key=lambda s: not bool(s.private))  # own private first, then public
    return uuid.UUID(str(matches[0].id))


def find_secret(ref: str) -> StoredSecret | None:
    """The secret ``ref`` names exactly, with values, or None if not visible."""
    with _local() as local:
        if local is not None:
            row = local.find(ref)
            return None if row is None else _from_row(local, row)

    def run() -> StoredSecret | None:
        secret_id = _find_id(ref)
        if secret_id is None:
            return None
        try:
            return _to_stored(get_client().zen_store.get_secret(secret_id))
        except KeyError as exc:
            if "could not be decoded" in str(exc):
                raise
            return None  # deleted between the lookup and the read

    return _call("read", ref, run)


def get_secret(ref: str) -> StoredSecret:
    """Like :func:`find_secret`, but raises :class:`SecretNotFoundError`."""
    found = find_secret(ref)
    if found is None:
        raise SecretNotFoundError(ref)
    return found


def list_secrets() -> list[StoredSecret]:
    """Every secret visible to the caller, with key names (values fetched per secret)."""
    with _local() as local:
        if local is not None:
            rows = [_from_row(local, row) for row in local.rows()]
            return sorted(rows, key=lambda s: (s.name, s.private, s.id))

    def run() -> list[StoredSecret]:
        from zenml.utils.pagination_utils import depaginate

        client = get_client()
        items = depaginate(client.list_secrets, hydrate=False)
        out: list[StoredSecret] = []
        for item in items:
            try:
                out.append(_to_stored(client.zen_store.get_secret(item.id)))
            except KeyError:
                # Deleted meanwhile, or undecodable: list it without keys.
                out.append(StoredSecret(str(item.id), item.name, bool(item.private), {}))
        out.sort(key=lambda s: (s.name, s.private, s.id))
        return out

    return _call("list", "*", run)


def create_secret(name: str, values: Mapping[str, str], *, private: bool) -> StoredSecret:
    """Create a new secret; :class:`SecretExistsError` if the scope already has it."""

    def run() -> StoredSecret:
        from zenml.models import SecretRequest

        client = get_client()
        resp = client.zen_store.create_secret(
            SecretRequest(name=name, values=dict(values), private=private)  # type: ignore[arg-type]
        )
        return _to_stored(resp)

    with write_lock(), _local() as local:
        if local is not None:
            with local.transaction():
                secret_id = local.insert(name, values, private)
            return StoredSecret(
                id=local_format_id(secret_id),
                name=name,
                private=private,
                values=dict(values),
                owner=local.user_name,
                updated=local.updated_of(secret_id),
            )
        try:
            return _call("create", name, run)
        except SecretExistsError:
            # The scope is the one requested: ZenML's message quotes the name, so
            # guessing it from the text misreads names like "my-private-token".
            raise SecretExistsError(name, private=private) from None


def update_values(secret_id: str, name: str, values: Mapping[str, str]) -> StoredSecret:
    """Add or overwrite ``values`` in an existing secret, keeping its other keys.

    On the embedded store the caller holds :func:`write_lock`. On a server there is
    no lock to take, so the update is verified and repaired instead (see
    :func:`_server_upsert`).
    """
    if server_url():
        from kitaru._zenml.server_upsert import server_upsert

        return _call("update", name, lambda: server_upsert(uuid.UUID(secret_id), name, values))
    with _local() as local:
        if local is not None:
            # One IMMEDIATE transaction: the read-merge-write cannot interleave with
            # another writer, kitaru's or ZenML's.
            with local.transaction():
                row = local.find(secret_id)
                if row is None:
                    raise SecretNotFoundError(name)
                merged = {**local.decrypt(row["values"], name), **values}
                check_total_size(merged, secret=name)
                local.write_values(secret_id, merged)
                row = local.find(secret_id)
            return _from_row(local, row)

    def run() -> StoredSecret:
        from zenml.models import SecretUpdate

        update = SecretUpdate(values=dict(values))  # type: ignore[arg-type]
        resp = get_client().zen_store.update_secret(uuid.UUID(secret_id), secret_update=update)
        return _to_stored(resp)

    return _call("update", name, run)


def delete_secret(secret_id: str, name: str) -> None:
    """Delete the secret with this full ID."""

    def run() -> None:
        get_client().zen_store.delete_secret(uuid.UUID(secret_id))

    with write_lock():
        with _local() as local:
            if local is not None:
                import sqlite3

                try:
                    with local.transaction():
                        local.delete(secret_id)
                    return
                except sqlite3.IntegrityError:
                    pass  # still referenced (e.g. by a webhook): let ZenML decide
        _call("delete", name, run)


@contextlib.contextmanager
def write_lock() -> Iterator[None]:
    """Serialise writers of the embedded store across processes.

    ZenML updates secret values read-modify-write; two concurrent upserts could
    otherwise lose each other's keys. On a server a local file lock would not
    help (the other writers are elsewhere), so server mode takes no lock here and
    :func:`update_values` verifies and repairs its update instead.
    """
    if server_url() or _held.depth:
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    lock_path = paths().secrets_lock
    ensure_private_dir(lock_path.parent)
    with _thread_lock:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held.depth = 1
            yield
        finally:
            _held.depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class _Held(threading.local):
    """How deeply the current thread holds :func:`write_lock` (it is re-entrant)."""

    depth: int = 0


_held = _Held()
_thread_lock = threading.Lock()
