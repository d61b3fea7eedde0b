"""The seam every secret operation goes through: one typed interface, three backends.

- :class:`~kitaru._store.sqlite_backend.DirectSqliteBackend`: the embedded store's
  ``secret`` table read and written directly (no ZenML import), when its schema is
  the pinned ZenML's;
- :class:`~kitaru._store.zenml_backend.ZenMLBackend`: ZenML's own client, on the
  embedded store or on a server whose version kitaru does not speak directly;
- :class:`~kitaru._store.rest_backend.RestServerBackend`: a ZenML server of the
  pinned version, spoken to over its REST API with ``httpx`` (no ZenML import).

:func:`kitaru._store.secret_store.backend` picks one per process and config. This
module is the leaf they share: the stored-secret model, the interface, and error
mapping by exception type. It imports neither zenml nor an HTTP client.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from kitaru._config.store_key import KeyStatus
from kitaru._store.validation import check_total_size
from kitaru.errors import (
    BackendError,
    MissingSecretKeyError,
    SecretExistsError,
    SecretNotFoundError,
)

BackendKind = Literal["direct-sqlite", "zenml-embedded", "zenml-server", "rest-server"]


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
        """All key names, readable or not, sorted."""
        return tuple(sorted(self.values))

    @property
    def unavailable_keys(self) -> tuple[str, ...]:
        """Keys whose values the store withheld from the caller."""
        return tuple(sorted(k for k, v in self.values.items() if v is None))


@dataclass(frozen=True)
class ListedSecret:
    """A secret as a listing shows it: metadata and key names, never a value."""

    id: str
    name: str
    private: bool
    keys: tuple[str, ...]
    unavailable_keys: tuple[str, ...] = ()
    owner: str | None = None
    updated: str | None = None

    @classmethod
    def of(cls, stored: StoredSecret) -> ListedSecret:
        """The listing's view of a secret read with its values."""
        return cls(
            id=stored.id,
            name=stored.name,
            private=stored.private,
            keys=stored.keys,
            unavailable_keys=stored.unavailable_keys,
            owner=stored.owner,
            updated=stored.updated,
        )


@dataclass(frozen=True)
class Upserted:
    """What :meth:`SecretBackend.upsert` did. Holds the stored secret, never new values."""

    secret: StoredSecret
    action: Literal["created", "updated"]
    private_requested_but_kept_public: bool = False


class UnsupportedOperation(BackendError):
    """The backend in use cannot do this (for example: a server has no local key)."""

    def __init__(self, what: str, *, backend: str) -> None:
        super().__init__(f"{what} is not available with the {backend} backend.", operation=what)
        self.backend = backend


def sort_key(secret: StoredSecret | ListedSecret) -> tuple[str, bool, str]:
    """The order every backend lists secrets in: name, public first, ID."""
    return (secret.name, secret.private, secret.id)


class SecretBackend(abc.ABC):
    """Exact secret lookups and writes on one store.

    References are resolved exactly: a full UUID by ID, otherwise the exact name;
    when the caller owns a private secret and a public one has the same name, the
    caller's private secret wins (a personal override of a shared credential).
    Errors are kitaru errors; none holds a secret value.
    """

    #: Which implementation this is (``kitaru status`` shows it).
    kind: BackendKind
    #: Where the secrets are, for messages ("the local kitaru store" or a URL).
    location: str
    #: True if values are encrypted at rest with kitaru's local key file.
    uses_local_key: ClassVar[bool] = False

    # ------------------------------------------------------------ reads

    @abc.abstractmethod
    def find(self, ref: str) -> StoredSecret | None:
        """The secret ``ref`` names exactly, with values, or None if not visible."""

    def get(self, ref: str) -> StoredSecret:
        """Like :meth:`find`, but raises :class:`SecretNotFoundError`."""
        found = self.find(ref)
        if found is None:
            raise SecretNotFoundError(ref)
        return found

    @abc.abstractmethod
    def list(self) -> list[ListedSecret]:
        """Every secret visible to the caller, with key names, in :func:`sort_key` order."""

    @abc.abstractmethod
    def updated_at(self, secret_id: str) -> str | None:
        """When the secret was last changed (metadata only; None if it is gone)."""

    # ------------------------------------------------------------ writes

    @abc.abstractmethod
    def create(self, name: str, values: Mapping[str, str], *, private: bool) -> StoredSecret:
        """Create a secret; :class:`SecretExistsError` if that scope has the name."""

    @abc.abstractmethod
    def update_values(self, secret_id: str, name: str, values: Mapping[str, str]) -> StoredSecret:
        """Add or overwrite ``values`` in an existing secret, keeping its other keys.

        Concurrent updates of one secret never lose each other's keys.
        """

    @abc.abstractmethod
    def delete(self, secret_id: str, name: str) -> None:
        """Delete the secret with this full ID."""

    @abc.abstractmethod
    def remove_keys(self, secret_id: str, name: str, keys: Sequence[str]) -> StoredSecret:
        """Delete ``keys`` from the secret with this full ID, keeping its other keys."""

    @abc.abstractmethod
    def rename(self, secret_id: str, name: str, new_name: str, *, private: bool) -> StoredSecret:
        """Rename the secret with this full ID (same ID, visibility and values).

        :class:`SecretExistsError` if its scope (public, or the owner's private
        secrets) already has ``new_name``.
        """

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialise this process's writers with other writers of the same store.

        The default takes no lock: a server has writers elsewhere, so its backends
        make :meth:`update_values` safe on their own.
        """
        yield

    # ------------------------------------------------------------ composed

    def upsert(self, name: str, values: Mapping[str, str], *, private: bool) -> Upserted:
        """Create the secret if missing, else add or overwrite ``values`` in it.

        An existing secret keeps its other keys and its visibility.
        """
        with self.write_lock():
            existing = self.find(name)
            if existing is None:
                try:
                    created = self.create(name, values, private=private)
                except SecretExistsError:
                    # Another writer created it between our lookup and our create
                    # (on a server nothing serialises the two): update theirs.
                    existing = self.get(name)
                else:
                    return Upserted(created, "created")
            check_total_size({**existing.values, **values}, secret=name)
            updated = self.update_values(existing.id, existing.name, values)
            return Upserted(updated, "updated", private and not existing.private)

    def create_unique(self, name: str, values: Mapping[str, str], *, private: bool) -> StoredSecret:
        """Create a secret only if no visible secret has this name, in any visibility."""
        with self.write_lock():
            existing = self.find(name)
            if existing is not None:
                raise SecretExistsError(name, private=existing.private)
            return self.create(name, values, private=private)

    def delete_ref(self, ref: str) -> StoredSecret:
        """Delete the secret ``ref`` names exactly and return what it was."""
        with self.write_lock():
            stored = self.get(ref)
            self.delete(stored.id, stored.name)
        return stored

    def remove_keys_ref(self, ref: str, keys: Sequence[str]) -> StoredSecret:
        """Remove ``keys`` from the secret ``ref`` names exactly; all or nothing.

        Raises:
            MissingSecretKeyError: the secret has one of the keys not (nothing removed).
        """
        with self.write_lock():
            existing = self.get(ref)
            for key in keys:
                if key not in existing.values:
                    raise MissingSecretKeyError(existing.name, key)
            return self.remove_keys(existing.id, existing.name, keys)

    def rename_ref(self, ref: str, new_name: str) -> tuple[StoredSecret, str]:
        """Rename the secret ``ref`` names exactly; returns it and its old name."""
        with self.write_lock():
            existing = self.get(ref)
            if existing.name == new_name:
                return existing, existing.name
            renamed = self.rename(existing.id, existing.name, new_name, private=existing.private)
            return renamed, existing.name

    # ------------------------------------------------------------ local key

    def key_status(self) -> KeyStatus:
        """The state of the local encryption key (only for backends that use one)."""
        raise UnsupportedOperation("the local encryption key", backend=self.kind)


# ------------------------------------------------------------ errors by type
