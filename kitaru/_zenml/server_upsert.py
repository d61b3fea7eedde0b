"""Safe upserts of secret values on a ZenML server.

A ZenML server merges an update into a secret read-modify-write (read the stored
values, merge, write them back, in separate transactions) with nothing
serialising two updates of the same secret. Measured on ZenML 0.98 (8 processes
x 50 single-key updates of one secret): only 160 of 400 keys survived. Checking
and re-sending dropped keys is not enough on its own either: a concurrent merge
that read the secret before our write can land after our check (its write waits
for the database lock, up to a minute on SQLite). So kitaru writers take a lease
on the secret first, and still check their keys afterwards.

The lease is a ZenML *tag* named ``kitaru-lock-<secret id>``: tag names are
unique in the server's database, so creating it is an atomic test-and-set that
works across machines and users. Deleting it releases the lease. A tag left
behind by a crashed writer is taken over once the same tag has been seen for
LEASE_S seconds. If the server refuses tags to this user, kitaru falls back to
checking and re-sending alone.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from kitaru._zenml.client import get_client, server_url
from kitaru._zenml.secret_store import (
    StoredSecret,
    _is_connection_error,
    _store_label,
    _to_stored,
)
from kitaru.errors import BackendError

UPSERT_ATTEMPTS = 10
LEASE_S = 30.0
LOCK_WAIT_S = 300.0
LOCK_TAG_PREFIX = "kitaru-lock-"
_TRANSIENT_RETRIES = 5


def server_upsert(secret_id: uuid.UUID, name: str, values: Mapping[str, str]) -> StoredSecret:
    """Upsert ``values`` on a server, under the secret's lease, until they are all stored.

    1. Take the lease (see above) so no other kitaru writer merges meanwhile.
    2. Send the update (only our keys; the server merges) and read the secret back.
    3. A key of ours that is missing was dropped by a writer outside kitaru's
       lease (ZenML's CLI, the dashboard, or every writer when tags are refused):
       send those keys again, up to ``UPSERT_ATTEMPTS`` times. Without a lease,
       wait a little longer than the update took before reading back, so that a
       merge that read the secret before our write has landed.

    Transient server errors are retried; errors that a retry cannot fix (not
    found, permissions, size, connection) are raised at once.
    """
    import random

    from zenml.models import SecretUpdate

    store = get_client().zen_store
    wanted = dict(values)
    pending = dict(wanted)
    with _server_lease(store, secret_id) as leased:
        failures = 0
        for _attempt in range(UPSERT_ATTEMPTS):
            started = time.monotonic()
            try:
                update = SecretUpdate(values=dict(pending))  # type: ignore[arg-type]
                store.update_secret(secret_id, secret_update=update)
            except Exception as exc:
                failures += 1
                if failures > _TRANSIENT_RETRIES or not _is_transient(exc):
                    raise
                time.sleep(random.uniform(0.1, 0.3) * failures)
                continue
            if not leased:
                time.sleep(min(3.0, max(0.15, 1.5 * (time.monotonic() - started))))
            current = _to_stored(store.get_secret(secret_id))
            pending = {k: v for k, v in wanted.items() if k not in current.values}
            if not pending:
                return current
            time.sleep(random.uniform(0.05, 0.3))
    raise BackendError(
        f"update of secret {name!r} on {_store_label()} did not stick: concurrent "
        f"writers outside kitaru kept dropping keys {sorted(pending)}. Run the command again.",
        operation="update",
    )


_lease_unsupported: set[str] = set()


@contextlib.contextmanager
def _server_lease(store: Any, secret_id: uuid.UUID) -> Iterator[bool]:
    """Hold the write lease of one secret on the server; yields False if tags are refused."""
    tag_id = _acquire_lease(store, secret_id)
    try:
        yield tag_id is not None
    except Exception as exc:
        # With the server gone the release would only fail after more retries;
        # the lease then lapses after LEASE_S.
        if tag_id is not None and not _is_connection_error(exc):
            with contextlib.suppress(Exception):
                store.delete_tag(tag_id)
        raise
    else:
        if tag_id is not None:
            with contextlib.suppress(Exception):
                store.delete_tag(tag_id)


def _acquire_lease(store: Any, secret_id: uuid.UUID) -> Any:
    """Create the lease tag (waiting for the current holder); None if tags are refused.

    While another writer holds the lease, waiters poll with a cheap read (is the
    tag still there?) and try the create again only once it is gone, so that
    they do not load the server with failing writes.
    """
    import random

    from zenml.exceptions import EntityExistsError
    from zenml.models import TagFilter, TagRequest

    url = str(server_url())
    if url in _lease_unsupported:
        return None
    tag_name = f"{LOCK_TAG_PREFIX}{secret_id.hex}"
    started = time.monotonic()
    seen: dict[str, float] = {}  # holder tag ID -> when this process first saw it
    pause = 0.03
    while True:
        try:
            return store.create_tag(TagRequest(name=tag_name)).id
        except EntityExistsError:
            pass
        except Exception as exc:
            if _is_connection_error(exc) or _is_transient(exc):
                raise
            # Tags refused to this user (e.g. RBAC): check-and-resend alone.
            _lease_unsupported.add(url)
            return None
        while True:
            if time.monotonic() - started > LOCK_WAIT_S:
                raise BackendError(
                    f"Timed out after {LOCK_WAIT_S:.0f} s waiting for other writers of this "
                    f"secret on {url} (lease tag {tag_name!r}).",
                    operation="update",
                )
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 1.3, 0.12)
            holders = store.list_tags(TagFilter(name=f"equals:{tag_name}")).items
            if not holders:
                break
            now = time.monotonic()
            for tag in holders:
                # A holder seen for LEASE_S (by this process's clock) crashed or
                # lost the server: take the lease over. Deleting by ID never hits
                # a newer holder's tag.
                if now - seen.setdefault(str(tag.id), now) >= LEASE_S:
                    with contextlib.suppress(KeyError):
                        store.delete_tag(tag.id)


def _is_transient(exc: BaseException) -> bool:
    """A server-side failure worth retrying (not a refusal, not a lost connection)."""
    from zenml.exceptions import EntityExistsError, IllegalOperationError

    if isinstance(exc, (KeyError, ValueError, EntityExistsError, IllegalOperationError)):
        return False
    if _is_connection_error(exc):
        return False
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"AuthorizationException", "CredentialsNotValid", "ValidationError"}:
        return False
    text = str(exc).lower()
    return "locked" in text or bool(names & {"RuntimeError", "OperationalError", "ServerError"})
