"""Safe upserts of secret values on a ZenML server, for both server backends.

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

The server calls themselves come from a :class:`ServerOps` (REST or ZenML's client).

Two creators of one name: a ZenML server checks a new secret's name, then
inserts it. Both writers can pass the check, and the loser's insert breaks the
database's unique constraint, which the server answers with HTTP 500 rather
than 409 (measured on ZenML 0.98). So after a server-side failure of a create,
each server backend lists that name in that scope (names only: the winner's
values are written in a later transaction) and, if it is there, reports the
secret as existing, as if the writer had come second.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Protocol

from kitaru._config import per_process_cache
from kitaru._config.store_access import is_connection_error
from kitaru._store.backend import StoredSecret
from kitaru.errors import BackendError, ServerUnavailableError

UPSERT_ATTEMPTS = 10
LEASE_S = 30.0
LOCK_WAIT_S = 300.0
LOCK_TAG_PREFIX = "kitaru-lock-"
_TRANSIENT_RETRIES = 5


class TagExists(Exception):
    """A tag with that name exists already (the lease is held)."""


class TagsRefused(Exception):
    """The server will not let this user create tags."""


class Transient(Exception):
    """A server-side failure worth retrying (not a refusal, not a lost connection)."""


class ServerOps(Protocol):
    """The server calls a leased upsert needs; errors other than these are kitaru errors."""

    url: str

    def patch_values(self, secret_id: uuid.UUID, values: Mapping[str, str]) -> None:
        """Merge ``values`` into the secret (raises :class:`Transient` to be retried)."""

    def read(self, secret_id: uuid.UUID) -> StoredSecret:
        """The secret with its values."""

    def create_tag(self, name: str) -> str:
        """Create a tag; its ID. Raises :class:`TagExists` or :class:`TagsRefused`."""

    def tag_ids(self, name: str) -> list[str]:
        """IDs of the tags with exactly this name."""

    def delete_tag(self, tag_id: str) -> None:
        """Delete a tag by ID (gone already is fine)."""


def leased_upsert(
    ops: ServerOps, secret_id: uuid.UUID, name: str, values: Mapping[str, str]
) -> StoredSecret:
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
    wanted = dict(values)
    pending = dict(wanted)
    with _lease(ops, secret_id) as leased:
        failures = 0
        for _attempt in range(UPSERT_ATTEMPTS):
            started = time.monotonic()
            try:
                ops.patch_values(secret_id, pending)
            except Transient:
                failures += 1
                if failures > _TRANSIENT_RETRIES:
                    raise BackendError(
                        f"update of secret {name!r} on {ops.url} kept failing on the server. "
                        "Run the command again.",
                        operation="update",
                    ) from None
                time.sleep(random.uniform(0.1, 0.3) * failures)
                continue
            if not leased:
                time.sleep(min(3.0, max(0.15, 1.5 * (time.monotonic() - started))))
            current = ops.read(secret_id)
            pending = {k: v for k, v in wanted.items() if k not in current.values}
            if not pending:
                return current
            time.sleep(random.uniform(0.05, 0.3))
    raise BackendError(
        f"update of secret {name!r} on {ops.url} did not stick: concurrent "
        f"writers outside kitaru kept dropping keys {sorted(pending)}. Run the command again.",
        operation="update",
    )


_lease_unsupported: set[str] = per_process_cache(set())


@contextlib.contextmanager
def _lease(ops: ServerOps, secret_id: uuid.UUID) -> Iterator[bool]:
    """Hold the write lease of one secret on the server; yields False if tags are refused."""
    tag_id = _acquire(ops, secret_id)
    try:
        yield tag_id is not None
    except Exception as exc:
        # With the server gone the release would only fail after more retries;
        # the lease then lapses after LEASE_S.
        gone = is_connection_error(exc) or isinstance(exc, ServerUnavailableError)
        if tag_id is not None and not gone:
            with contextlib.suppress(Exception):
                ops.delete_tag(tag_id)
        raise
    else:
        if tag_id is not None:
            with contextlib.suppress(Exception):
                ops.delete_tag(tag_id)


def _acquire(ops: ServerOps, secret_id: uuid.UUID) -> str | None:
    """Create the lease tag (waiting for the current holder); None if tags are refused.

    While another writer holds the lease, waiters poll with a cheap read (is the
    tag still there?) and try the create again only once it is gone, so that
    they do not load the server with failing writes.
    """
    if ops.url in _lease_unsupported:
        return None
    tag_name = f"{LOCK_TAG_PREFIX}{secret_id.hex}"
    started = time.monotonic()
    seen: dict[str, float] = {}  # holder tag ID -> when this process first saw it
    pause = 0.03
    while True:
        try:
            return ops.create_tag(tag_name)
        except (TagExists, Transient):
            pass
        except TagsRefused:
            _lease_unsupported.add(ops.url)
            return None
        while True:
            if time.monotonic() - started > LOCK_WAIT_S:
                raise BackendError(
                    f"Timed out after {LOCK_WAIT_S:.0f} s waiting for other writers of this "
                    f"secret on {ops.url} (lease tag {tag_name!r}).",
                    operation="update",
                )
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 1.3, 0.12)
            holders = ops.tag_ids(tag_name)
            if not holders:
                break
            now = time.monotonic()
            for holder in holders:
                # A holder seen for LEASE_S (by this process's clock) crashed or
                # lost the server: take the lease over. Deleting by ID never hits
                # a newer holder's tag.
                if now - seen.setdefault(holder, now) >= LEASE_S:
                    ops.delete_tag(holder)
