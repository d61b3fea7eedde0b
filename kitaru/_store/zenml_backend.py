"""The ZenML backend: secrets through ZenML's own client (embedded store or server).

Used on the embedded store when the direct backend cannot verify it (a new store,
another schema, ``KITARU_DISABLE_FAST_STORE``), and on a server whose version is
not the one kitaru speaks over REST. ZenML's ``Client.get_secret`` matches names
by substring and IDs by prefix; nothing here uses it: a reference is resolved to
one full ID first, then everything goes to ZenML's store by that ID.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from kitaru._config import file_lock, paths, store_key
from kitaru._config.store_access import is_connection_error
from kitaru._config.store_key import KeyStatus
from kitaru._store.backend import (
    BackendKind,
    ListedSecret,
    SecretBackend,
    StoredSecret,
    UnsupportedOperation,
    sort_key,
)
from kitaru._store.server_upsert import TagExists, TagsRefused, Transient, leased_upsert
from kitaru._store.validation import MAX_TOTAL_BYTES, parse_full_uuid
from kitaru._zenml.client import get_client, import_zenml
from kitaru.errors import (
    BackendError,
    EncryptionKeyError,
    InvalidSecretError,
    KitaruError,
    SecretExistsError,
    SecretNotFoundError,
    SecretVisibilityError,
)

T = TypeVar("T")


def to_stored(resp: Any) -> StoredSecret:
    """A ZenML ``SecretResponse`` as a :class:`StoredSecret`."""
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


def _is_decode_error(exc: BaseException) -> bool:
    """ZenML's "values could not be decoded" KeyError (raised while handling the cause)."""
    from zenml.zen_stores.schemas.secret_schemas import SecretDecodeError

    return isinstance(exc, KeyError) and isinstance(exc.__context__, SecretDecodeError)


class ZenMLBackend(SecretBackend):
    """Secrets through ZenML's client, on the embedded store or a server."""

    def __init__(self, location: str, *, server: bool = False) -> None:
        self.location = location
        self.server = server
        self.kind: BackendKind = "zenml-server" if server else "zenml-embedded"

    uses_local_key: ClassVar[bool] = True

    def _call(self, operation: str, secret: str, fn: Callable[[], T], private: bool = False) -> T:
        """Run a ZenML call and map its errors to kitaru's (by type; never a value)."""
        get_client()  # configure ZenML (env, logging) before ``fn`` imports from it
        try:
            return fn()
        except KitaruError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped below, re-raised as KitaruError
            raise self._map_error(exc, operation, secret, private) from None

    def _map_error(self, exc: Exception, operation: str, secret: str, private: bool) -> KitaruError:
        from pydantic import ValidationError
        from zenml.exceptions import EntityExistsError, IllegalOperationError

        if isinstance(exc, EntityExistsError):
            return SecretExistsError(secret, private=private)
        if isinstance(exc, IllegalOperationError):
            return SecretVisibilityError(secret, "only the user who created it may do that")
        if _is_decode_error(exc):
            return EncryptionKeyError(
                f"Secret {secret!r} cannot be decrypted with the current store key. Restore "
                "the original key file from your backup.",
                key_file=str(paths().key_file),
            )
        if isinstance(exc, KeyError):
            return SecretNotFoundError(secret)
        if self.server or is_connection_error(exc):
            from kitaru._zenml.server import server_failure

            mapped = server_failure(
                exc, self.location, operation=operation, reason=type(exc).__name__
            )
            if mapped is not None:
                return mapped
        if isinstance(exc, (ValueError, ValidationError)) and operation in ("create", "update"):
            return InvalidSecretError(
                f"Secret {secret!r} was refused by the store: keys and values must be "
                f"strings and together at most {MAX_TOTAL_BYTES // 1024} KiB of UTF-8.",
                secret=secret,
                field="values",
            )
        return BackendError(
            f"{operation} of secret {secret!r} failed in {self.location}: {type(exc).__name__}",
            operation=operation,
        )

    # ------------------------------------------------------------ reads

    def _find_id(self, ref: str) -> uuid.UUID | None:
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

    def find(self, ref: str) -> StoredSecret | None:
        def run() -> StoredSecret | None:
            secret_id = self._find_id(ref)
            if secret_id is None:
                return None
            try:
                return to_stored(get_client().zen_store.get_secret(secret_id))
            except KeyError as exc:
                if _is_decode_error(exc):
                    raise
                return None  # deleted between the lookup and the read

        return self._call("read", ref, run)

    def list(self) -> list[ListedSecret]:
        def run() -> list[ListedSecret]:
            import_zenml()
            from zenml.utils.pagination_utils import depaginate

            client = get_client()
            out: list[ListedSecret] = []
            for item in depaginate(client.list_secrets, hydrate=False):
                try:
                    out.append(ListedSecret.of(to_stored(client.zen_store.get_secret(item.id))))
                except KeyError:
                    # Deleted meanwhile, or undecodable: list it without keys.
                    out.append(ListedSecret(str(item.id), item.name, bool(item.private), ()))
            return sorted(out, key=sort_key)

        return self._call("list", "*", run)

    def updated_at(self, secret_id: str) -> str | None:
        def run() -> str | None:
            page = get_client().list_secrets(id=secret_id, size=1, hydrate=False)
            if not page.items:
                return None
            stamp = page.items[0].updated
            return stamp.isoformat() if stamp is not None else None

        return self._call("read", secret_id, run)

    # ------------------------------------------------------------ writes

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        if self.server:  # the other writers are elsewhere: see update_values
            yield
            return
        with file_lock(paths().secrets_lock):
            yield

    def create(self, name: str, values: Mapping[str, str], *, private: bool) -> StoredSecret:
        def run() -> StoredSecret:
            import_zenml()
            from zenml.models import SecretRequest

            request = SecretRequest(name=name, values=dict(values), private=private)  # type: ignore[arg-type]
            try:
                return to_stored(get_client().zen_store.create_secret(request))
            except Exception as exc:
                lost_race = self.server and _is_transient(exc)
                if lost_race and self._created_meanwhile(name, private=private):
                    raise SecretExistsError(name, private=private) from None
                raise

        with self.write_lock():
            return self._call("create", name, run, private=private)

    def _created_meanwhile(self, name: str, *, private: bool) -> bool:
        """Whether that scope has ``name`` now, after a server-side failure of a create.

        See "Two creators of one name" in :mod:`kitaru._store.server_upsert`.
        """
        try:
            page = get_client().list_secrets(name=f"equals:{name}", private=private, hydrate=False)
        except Exception:  # noqa: BLE001 - no answer: the create's own error stands
            return False
        return any(item.name == name for item in page.items)

    def update_values(self, secret_id: str, name: str, values: Mapping[str, str]) -> StoredSecret:
        if self.server:
            ops = _ZenMLOps(self)
            return self._call(
                "update", name, lambda: leased_upsert(ops, uuid.UUID(secret_id), name, values)
            )

        def run() -> StoredSecret:
            import_zenml()
            from zenml.models import SecretUpdate

            update = SecretUpdate(values=dict(values))  # type: ignore[arg-type]
            store = get_client().zen_store
            return to_stored(store.update_secret(uuid.UUID(secret_id), secret_update=update))

        with self.write_lock():
            return self._call("update", name, run)

    def _update(
        self, operation: str, secret_id: str, secret: str, private: bool, **fields: Any
    ) -> StoredSecret:
        """ZenML's ``update_secret``: a value of None deletes that key; a name renames."""

        def run() -> StoredSecret:
            import_zenml()
            from zenml.models import SecretUpdate

            store = get_client().zen_store
            update = SecretUpdate(**fields)
            return to_stored(store.update_secret(uuid.UUID(secret_id), secret_update=update))

        with self.write_lock():
            return self._call(operation, secret, run, private=private)

    def remove_keys(self, secret_id: str, name: str, keys: Sequence[str]) -> StoredSecret:
        return self._update("update", secret_id, name, False, values=dict.fromkeys(keys))

    def rename(self, secret_id: str, name: str, new_name: str, *, private: bool) -> StoredSecret:
        return self._update("rename", secret_id, new_name, private, name=new_name)

    def delete(self, secret_id: str, name: str) -> None:
        with self.write_lock():
            self._call(
                "delete", name, lambda: get_client().zen_store.delete_secret(uuid.UUID(secret_id))
            )

    def key_status(self) -> KeyStatus:
        if self.server:
            raise UnsupportedOperation("the local encryption key", backend=self.kind)
        return store_key.key_status()


class _ZenMLOps:
    """The calls :func:`leased_upsert` makes, through ZenML's client."""

    def __init__(self, backend: ZenMLBackend) -> None:
        self.url = backend.location
        self.store = get_client().zen_store

    def patch_values(self, secret_id: uuid.UUID, values: Mapping[str, str]) -> None:
        from zenml.models import SecretUpdate

        try:
            self.store.update_secret(secret_id, secret_update=SecretUpdate(values=dict(values)))  # type: ignore[arg-type]
        except Exception as exc:
            if _is_transient(exc):
                raise Transient() from None
            raise

    def read(self, secret_id: uuid.UUID) -> StoredSecret:
        return to_stored(self.store.get_secret(secret_id))

    def create_tag(self, name: str) -> str:
        from zenml.exceptions import EntityExistsError
        from zenml.models import TagRequest

        try:
            return str(self.store.create_tag(TagRequest(name=name)).id)
        except EntityExistsError:
            raise TagExists() from None
        except Exception as exc:
            if is_connection_error(exc):
                raise
            if _is_transient(exc):
                raise Transient() from None
            raise TagsRefused() from None  # e.g. RBAC: check-and-resend alone

    def tag_ids(self, name: str) -> list[str]:
        from zenml.models import TagFilter

        return [str(t.id) for t in self.store.list_tags(TagFilter(name=f"equals:{name}")).items]

    def delete_tag(self, tag_id: str) -> None:
        with contextlib.suppress(KeyError):
            self.store.delete_tag(uuid.UUID(tag_id))


def _is_transient(exc: BaseException) -> bool:
    """A server-side failure worth retrying: ZenML's 5xx errors (not refusals, not I/O)."""
    from zenml.exceptions import EntityCreationError

    if is_connection_error(exc):
        return False
    return type(exc) in (RuntimeError, EntityCreationError)
