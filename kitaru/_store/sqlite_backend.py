"""The direct backend: the embedded store's ``secret`` table, without importing ZenML.

Chosen when :func:`kitaru._store.local_sqlite.connect` verifies the store (see
there). Each operation opens its own connection; every write is one
``BEGIN IMMEDIATE`` transaction under the store's write lock, so a read-merge-write
upsert cannot lose a concurrent writer's keys, kitaru's or ZenML's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

from kitaru._config import file_lock, paths, store_access, store_key
from kitaru._config.disk_space import disk_full_error, full_disk_file
from kitaru._config.store_key import KeyStatus
from kitaru._store import local_sqlite
from kitaru._store.backend import (
    BackendKind,
    ListedSecret,
    SecretBackend,
    StoredSecret,
    sort_key,
)
from kitaru._store.validation import check_total_size
from kitaru.errors import BackendError, SecretNotFoundError

LOCAL_LABEL = "the local kitaru store"


class DirectSqliteBackend(SecretBackend):
    """Secrets in the embedded store's table, read and written with sqlite3."""

    kind: BackendKind = "direct-sqlite"
    uses_local_key: ClassVar[bool] = True

    def __init__(self) -> None:
        self.location = LOCAL_LABEL

    @contextlib.contextmanager
    def _open(self) -> Iterator[local_sqlite.LocalSecrets]:
        local = local_sqlite.connect()
        if local is None:
            raise BackendError(
                f"The local store {paths().local_store_db} changed while kitaru was using it "
                "(its schema is no longer the one kitaru reads directly). Run the command again.",
                operation="open",
            )
        try:
            yield local
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            db = paths().local_store_db
            if local.read_only or full_disk_file(exc, db) is not None:
                raise disk_full_error(db) from None
            raise BackendError(
                f"The local store database {db} could not be read or written "
                f"({exc.sqlite_errorname or type(exc).__name__}). Check that the file and its "
                "directory are yours and writable; nothing was changed.",
                operation="open",
            ) from None
        finally:
            local.close()

    @staticmethod
    def _stored(local: local_sqlite.LocalSecrets, row: sqlite3.Row) -> StoredSecret:
        values: dict[str, str | None] = dict(local.decrypt(row["values"], row["name"]))
        return StoredSecret(
            id=store_access.format_id(row["id"]),
            name=row["name"],
            private=bool(row["private"]),
            values=values,
            owner=row["owner"],
            updated=store_access.iso(row["updated"]),
        )

    # ------------------------------------------------------------ reads

    def find(self, ref: str) -> StoredSecret | None:
        with self._open() as local:
            row = local.find(ref)
            return None if row is None else self._stored(local, row)

    def list(self) -> list[ListedSecret]:
        with self._open() as local:
            listed = (ListedSecret.of(self._stored(local, row)) for row in local.rows())
            return sorted(listed, key=sort_key)

    def updated_at(self, secret_id: str) -> str | None:
        with self._open() as local:
            return local.updated_of(secret_id)

    # ------------------------------------------------------------ writes

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        with file_lock(paths().secrets_lock):
            yield

    def create(self, name: str, values: Mapping[str, str], *, private: bool) -> StoredSecret:
        check_total_size(values, secret=name)
        with self.write_lock(), self._open() as local:
            with local.transaction():
                secret_id = local.insert(name, values, private)
            return StoredSecret(
                id=store_access.format_id(secret_id),
                name=name,
                private=private,
                values=dict(values),
                owner=local.user_name,
                updated=local.updated_of(secret_id),
            )

    def update_values(self, secret_id: str, name: str, values: Mapping[str, str]) -> StoredSecret:
        with self.write_lock(), self._open() as local:
            # One IMMEDIATE transaction: the read-merge-write cannot interleave with
            # another writer, kitaru's or ZenML's.
            with local.transaction():
                row = local.find(secret_id)
                if row is None:
                    raise SecretNotFoundError(name)
                merged = {**local.decrypt(row["values"], name), **values}
                check_total_size(merged, secret=name)
                local.write_values(secret_id, merged)
            return self._after_write(local, row, values=merged)

    def remove_keys(self, secret_id: str, name: str, keys: Sequence[str]) -> StoredSecret:
        with self.write_lock(), self._open() as local:
            with local.transaction():
                row = local.find(secret_id)
                if row is None:
                    raise SecretNotFoundError(name)
                kept = {
                    k: v for k, v in local.decrypt(row["values"], name).items() if k not in keys
                }
                local.write_values(secret_id, kept)
            return self._after_write(local, row, values=kept)

    def rename(self, secret_id: str, name: str, new_name: str, *, private: bool) -> StoredSecret:
        with self.write_lock(), self._open() as local:
            with local.transaction():
                row = local.find(secret_id)
                if row is None:
                    raise SecretNotFoundError(name)
                local.check_free(new_name, bool(row["private"]))
                local.write_name(secret_id, new_name)
            values = local.decrypt(row["values"], name)
            return self._after_write(local, row, values=values, name=new_name)

    @staticmethod
    def _after_write(
        local: local_sqlite.LocalSecrets,
        row: sqlite3.Row,
        *,
        values: Mapping[str, str],
        name: str | None = None,
    ) -> StoredSecret:
        return StoredSecret(
            id=store_access.format_id(row["id"]),
            name=name or row["name"],
            private=bool(row["private"]),
            values=dict(values),
            owner=row["owner"],
            updated=local.updated_of(store_access.format_id(row["id"])),
        )

    def delete(self, secret_id: str, name: str) -> None:
        with self.write_lock(), self._open() as local:
            try:
                with local.transaction():
                    local.delete(secret_id)
            except sqlite3.IntegrityError:
                # Still referenced (e.g. by a webhook): only ZenML knows what to do.
                from kitaru._store.zenml_backend import ZenMLBackend

                ZenMLBackend(LOCAL_LABEL).delete(secret_id, name)

    def key_status(self) -> KeyStatus:
        return store_key.key_status()
