"""Direct access to the embedded store's ``secret`` table, without importing ZenML.

Opening ZenML costs about two seconds per process (``import zenml`` plus store
start-up), which dominated every ``kitaru secrets ...`` command. On kitaru's own
embedded SQLite store the secret table is simple, so these operations read and
write it directly with ``sqlite3`` and ``cryptography``, in exactly ZenML's
format: AES-GCM with the SHA-256 of the store key, stored as
``base64(iv[12] + tag[16] + ciphertext)`` of the values' JSON (what
``sqlalchemy_utils.AesGcmEngine`` writes, which ZenML's SQL secrets store uses).
Rows written here read back through ZenML and vice versa (tested).

The fast path is taken only when everything matches what was verified: the
store exists, its schema version is the pinned ZenML's, the table has exactly
the expected columns and the store has a single human user. Otherwise
:func:`connect` returns None and callers go through ZenML. Every write runs in
one ``BEGIN IMMEDIATE`` transaction, so a read-modify-write upsert cannot lose a
concurrent writer's keys.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from kitaru._config import paths, store_key
from kitaru._config.store_access import SCHEMA_VERSION, damaged_store_error, iso, open_store
from kitaru._config.store_key import seal, unseal
from kitaru._store.validation import parse_full_uuid
from kitaru.errors import EncryptionKeyError, SecretExistsError

SECRET_COLUMNS = ("id", "created", "updated", "name", "private", "internal", "values", "user_id")


class LocalSecrets:
    """One connection to the embedded store with the store key loaded."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        key: str,
        user_id: str,
        user_name: str,
        *,
        read_only: bool = False,
    ) -> None:
        self._conn = conn
        #: True if opened read-only because the disk is full (writes then fail).
        self.read_only = read_only
        self._key = key
        self.user_id = user_id
        self.user_name = user_name

    # ------------------------------------------------------------ crypto

    def encrypt(self, values: Mapping[str, str]) -> str:
        return seal(self._key, values)

    def decrypt(self, stored: str | bytes, secret: str) -> dict[str, str]:
        values = unseal(self._key, stored)
        if values is None:
            raise EncryptionKeyError(
                f"Secret {secret!r} cannot be decrypted with the current store key. Restore "
                "the original key file from your backup.",
                key_file=str(paths().key_file),
            )
        return values

    # ------------------------------------------------------------ reads

    def rows(self, where: str = "", params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        sql = (
            'SELECT s.id, s.name, s.private, s."values", s.updated, u.name AS owner '
            "FROM secret s LEFT JOIN user u ON u.id = s.user_id "
            "WHERE s.internal = 0 AND (s.private = 0 OR s.user_id = ?)"
        )
        return list(self._conn.execute(sql + where, (self.user_id, *params)))

    def find(self, ref: str) -> sqlite3.Row | None:
        """The row ``ref`` names exactly: full ID first, then name (own private first)."""
        as_id = _uuid_hex(ref)
        if as_id is not None:
            found = self.rows(" AND s.id = ?", (as_id,))
            if found:
                return found[0]
        found = self.rows(" AND s.name = ? ORDER BY s.private DESC", (ref,))
        return found[0] if found else None

    def updated_of(self, secret_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT updated FROM secret WHERE id = ?", (_hex(secret_id),)
        ).fetchone()
        return iso(row[0]) if row else None

    # ------------------------------------------------------------ writes

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def check_free(self, name: str, private: bool) -> None:
        """Raise :class:`SecretExistsError` if ``name`` is taken in that scope (as ZenML checks)."""
        if private:
            clash = self._conn.execute(
                "SELECT 1 FROM secret WHERE name = ? AND private = 1 AND user_id = ?",
                (name, self.user_id),
            ).fetchone()
        else:
            clash = self._conn.execute(
                "SELECT 1 FROM secret WHERE name = ? AND private = 0", (name,)
            ).fetchone()
        if clash:
            raise SecretExistsError(name, private=private)

    def insert(self, name: str, values: Mapping[str, str], private: bool) -> str:
        self.check_free(name, private)
        secret_id = uuid.uuid4().hex
        now = _now()
        self._conn.execute(
            'INSERT INTO secret (id, created, updated, name, private, internal, "values", user_id) '
            "VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
            (secret_id, now, now, name, 1 if private else 0, self.encrypt(values), self.user_id),
        )
        return secret_id

    def write_values(self, secret_id: str, values: Mapping[str, str]) -> None:
        self._conn.execute(
            'UPDATE secret SET "values" = ?, updated = ? WHERE id = ?',
            (self.encrypt(values), _now(), _hex(secret_id)),
        )

    def write_name(self, secret_id: str, name: str) -> None:
        self._conn.execute(
            "UPDATE secret SET name = ?, updated = ? WHERE id = ?", (name, _now(), _hex(secret_id))
        )

    def delete(self, secret_id: str) -> None:
        self._conn.execute("DELETE FROM secret WHERE id = ?", (_hex(secret_id),))

    def close(self) -> None:
        self._conn.close()


def _hex(secret_id: str) -> str:
    return uuid.UUID(secret_id).hex


def _uuid_hex(text: str) -> str | None:
    parsed = parse_full_uuid(text)
    return parsed.hex if parsed is not None else None


def _now() -> str:
    # ZenML stores naive UTC timestamps in this exact text form.
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def connect() -> LocalSecrets | None:
    """A :class:`LocalSecrets` for kitaru's embedded store, or None to use ZenML.

    Raises:
        BackendError: the database file is damaged.
        EncryptionKeyError: the key is missing, damaged or wrong.
    """
    db = paths().local_store_db
    if not db.exists():
        return None  # a new store is created (and migrated) by ZenML
    conn, read_only = open_store(db)
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        columns = tuple(r[1] for r in conn.execute("PRAGMA table_info(secret)"))
        users = conn.execute(
            "SELECT id, name FROM user WHERE is_service_account = 0 AND active = 1"
        ).fetchall()
        if (
            version is None
            or version[0] != SCHEMA_VERSION
            or columns != SECRET_COLUMNS
            or len(users) != 1
        ):
            conn.close()
            return None
    except sqlite3.DatabaseError as exc:
        conn.close()
        if exc.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise damaged_store_error(db) from None
        return None
    p = paths()
    try:
        key = store_key.load_or_create_key(p)
        local = LocalSecrets(conn, key, str(users[0][0]), str(users[0][1]), read_only=read_only)
        # As the keyed ZenML store does: a key that cannot decrypt the newest stored
        # secret is the wrong key, even if its fingerprint was swapped along with it.
        newest = conn.execute(
            'SELECT name, "values" FROM secret WHERE "values" IS NOT NULL '
            "ORDER BY created DESC LIMIT 1"
        ).fetchone()
        if newest is not None:
            try:
                local.decrypt(newest[1], newest[0])
            except EncryptionKeyError:
                raise store_key.wrong_key_error(
                    p, "written with (its newest secret cannot be decrypted)"
                ) from None
        if not store_key.has_fingerprint(p):
            store_key.record_fingerprint(p, key)
    except BaseException:
        conn.close()
        raise
    return local
