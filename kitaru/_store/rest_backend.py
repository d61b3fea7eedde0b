"""The server backend: a ZenML server spoken to over its REST API with httpx.

Used when the server's version (``GET /api/v1/info``) is the pinned ZenML's,
whose endpoints were verified: ``POST /api/v1/login`` (the token exchange for an
API key), ``/api/v1/secrets`` (list with ``name=equals:``, get, create,
``PUT ...?patch_values=true`` to merge values, delete) and ``/api/v1/tags`` for
the write lease (see :mod:`kitaru._store.server_upsert`). Nothing here imports
ZenML, so a secrets command against a server costs an HTTP round trip or two,
not the two seconds of opening ZenML. The token an API key is exchanged for is
kept between commands (:mod:`kitaru._config.token_cache`): the server's check of
the key costs most of a second, and so are the key names a listing read
(:mod:`kitaru._store.listing_cache`). Errors are mapped by HTTP status and the
exception name ZenML puts first in its error ``detail``, never by message text.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kitaru._config.connection import ServerCredentials
from kitaru._config.store_access import PAGE_SIZE, HttpStatus, RestSession
from kitaru._store import listing_cache
from kitaru._store.backend import (
    BackendKind,
    ListedSecret,
    SecretBackend,
    StoredSecret,
    sort_key,
)
from kitaru._store.server_upsert import TagExists, TagsRefused, Transient, leased_upsert
from kitaru._store.validation import parse_full_uuid
from kitaru.errors import (
    BackendError,
    InvalidSecretError,
    KitaruError,
    SecretExistsError,
    SecretNotFoundError,
    SecretVisibilityError,
)

LIST_READERS = 6


def _to_stored(item: Mapping[str, Any]) -> StoredSecret:
    body = item.get("body") or {}
    raw = body.get("values") or {}
    values = {str(k): (None if v is None else str(v)) for k, v in raw.items()}
    user = (item.get("resources") or {}).get("user") or {}
    return StoredSecret(
        id=str(item["id"]),
        name=str(item["name"]),
        private=bool(body.get("private")),
        values=values,
        owner=user.get("name"),
        updated=body.get("updated"),
    )


def _listed(item: Mapping[str, Any], keys: tuple[str, ...]) -> ListedSecret:
    """A listing's item (no values) with its key names known from elsewhere."""
    body = item.get("body") or {}
    user = (item.get("resources") or {}).get("user") or {}
    return ListedSecret(
        id=str(item["id"]),
        name=str(item["name"]),
        private=bool(body.get("private")),
        keys=keys,
        owner=user.get("name"),
        updated=body.get("updated"),
    )


class RestServerBackend(RestSession, SecretBackend):
    """Secrets on a ZenML server of the pinned version, over REST."""

    kind: BackendKind = "rest-server"

    def __init__(self, url: str, credentials: ServerCredentials | None = None) -> None:
        super().__init__(url, credentials)
        self.location = url

    def _secret_call(
        self, method: str, path: str, operation: str, secret: str, **kwargs: Any
    ) -> Any:
        try:
            return self.request(method, path, operation, **kwargs)
        except HttpStatus as exc:
            raise self._mapped(exc, operation, secret) from None

    def _mapped(self, exc: HttpStatus, operation: str, secret: str) -> Exception:
        if exc.status == 404:
            return SecretNotFoundError(secret)
        if exc.status == 403:
            return SecretVisibilityError(secret, "only the user who created it may do that")
        if exc.status in (400, 422):
            return InvalidSecretError(
                f"The server refused secret {secret!r} as invalid ({exc.error or 'HTTP 400'}).",
                secret=secret,
                field="values",
            )
        return BackendError(
            f"{operation} of secret {secret!r} failed on {self.url}: {exc}", operation=operation
        )

    # ------------------------------------------------------------ reads

    def _read(self, secret_id: str, secret: str) -> StoredSecret | None:
        try:
            data = self.request("GET", f"/secrets/{secret_id}", "read")
        except HttpStatus as exc:
            if exc.status == 404:
                return None
            raise self._mapped(exc, "read", secret) from None
        return _to_stored(data)

    def _page(self, operation: str, **params: Any) -> list[dict[str, Any]]:
        return self._pages(operation, **params)[0]

    def _pages(self, operation: str, **params: Any) -> tuple[list[dict[str, Any]], float | None]:
        """Every item of a secrets listing, and the server's clock at its first page."""
        items: list[dict[str, Any]] = []
        listed_at: float | None = None
        page = 1
        while True:
            query = {"hydrate": "false", "size": PAGE_SIZE, "page": page, **params}
            try:
                resp = self.response("GET", "/secrets", operation, params=query)
            except HttpStatus as exc:
                raise self._mapped(exc, operation, "*") from None
            if page == 1:
                listed_at = listing_cache.server_time(resp.headers.get("date"))
            data = resp.json()
            items.extend(data.get("items") or [])
            if page >= int(data.get("total_pages") or 1):
                return items, listed_at
            page += 1

    def find(self, ref: str) -> StoredSecret | None:
        as_uuid = parse_full_uuid(ref)
        if as_uuid is not None:
            found = self._read(str(as_uuid), ref)
            if found is not None:
                return found
        matches = [i for i in self._page("read", name=f"equals:{ref}") if i.get("name") == ref]
        # Own private first, then public.
        matches.sort(key=lambda i: not bool((i.get("body") or {}).get("private")))
        for item in matches:
            found = self._read(str(item["id"]), ref)
            if found is not None:
                return found
        return None

    def list(self) -> list[ListedSecret]:
        items, listed_at = self._pages("list")
        known = listing_cache.load(self.url)
        keep: dict[str, listing_cache.Entry] = {}

        def one(item: dict[str, Any]) -> ListedSecret:
            secret_id, stamp = str(item["id"]), (item.get("body") or {}).get("updated")
            hit = known.get(secret_id)
            if hit is not None and hit[0] == stamp:
                keep[secret_id] = hit
                return _listed(item, hit[1])
            try:
                found = self._read(secret_id, str(item["name"]))
            except BackendError:
                found = None
            if found is None:  # deleted meanwhile, or unreadable: listed without keys
                return _listed(item, ())
            listed = ListedSecret.of(found)
            final = found.updated == stamp and listing_cache.settled(stamp, listed_at)
            if final and not listed.unavailable_keys and isinstance(stamp, str):
                keep[secret_id] = (stamp, listed.keys, time.time())
            return listed

        if len(items) <= 1:
            listed = [one(i) for i in items]
        else:
            from concurrent.futures import ThreadPoolExecutor

            # Key names not kept from an earlier listing take one read per secret,
            # a few at a time, so a long list costs a few round trips.
            with ThreadPoolExecutor(max_workers=min(LIST_READERS, len(items))) as pool:
                listed = list(pool.map(one, items))
        if keep != known:
            listing_cache.save(self.url, keep)
        return sorted(listed, key=sort_key)

    def updated_at(self, secret_id: str) -> str | None:
        items = self._page("read", id=secret_id)
        if not items:
            return None
        stamp = (items[0].get("body") or {}).get("updated")
        return str(stamp) if stamp is not None else None

    # ------------------------------------------------------------ writes

    def create(self, name: str, values: Mapping[str, str], *, private: bool) -> StoredSecret:
        body = {"name": name, "private": private, "values": dict(values)}
        try:
            data = self.request("POST", "/secrets", "create", json=body)
        except HttpStatus as exc:
            lost_race = exc.status >= 500 and self._created_meanwhile(name, private=private)
            if exc.status == 409 or lost_race:
                raise SecretExistsError(name, private=private) from None
            raise self._mapped(exc, "create", name) from None
        return _to_stored(data)

    def _created_meanwhile(self, name: str, *, private: bool) -> bool:
        """Whether that scope has ``name`` now, after a server-side failure of a create.

        See "Two creators of one name" in :mod:`kitaru._store.server_upsert`.
        """
        try:
            items = self._page("create", name=f"equals:{name}")
        except KitaruError:
            return False
        return any(
            i.get("name") == name and bool((i.get("body") or {}).get("private")) == private
            for i in items
        )

    def update_values(self, secret_id: str, name: str, values: Mapping[str, str]) -> StoredSecret:
        return leased_upsert(_RestOps(self, name), uuid.UUID(secret_id), name, values)

    def remove_keys(self, secret_id: str, name: str, keys: Sequence[str]) -> StoredSecret:
        # A value of None in a patch deletes that key on the server, in its own
        # read-merge-write: keys other writers add meanwhile stay.
        body = {"values": dict.fromkeys(keys)}
        data = self._secret_call(
            "PUT", f"/secrets/{secret_id}", "update", name,
            params={"patch_values": "true"}, json=body,
        )  # fmt: skip
        return self._read(secret_id, name) or _to_stored(data)

    def rename(self, secret_id: str, name: str, new_name: str, *, private: bool) -> StoredSecret:
        try:
            data = self.request(
                "PUT", f"/secrets/{secret_id}", "rename",
                params={"patch_values": "true"}, json={"name": new_name},
            )  # fmt: skip
        except HttpStatus as exc:
            if exc.status == 409:
                raise SecretExistsError(new_name, private=private) from None
            raise self._mapped(exc, "rename", name) from None
        return self._read(secret_id, new_name) or _to_stored(data)

    def delete(self, secret_id: str, name: str) -> None:
        self._secret_call("DELETE", f"/secrets/{secret_id}", "delete", name)


class _RestOps:
    """The calls :func:`leased_upsert` makes, over REST."""

    def __init__(self, backend: RestServerBackend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.url = backend.url

    def patch_values(self, secret_id: uuid.UUID, values: Mapping[str, str]) -> None:
        try:
            self.backend.request(
                "PUT",
                f"/secrets/{secret_id}",
                "update",
                params={"patch_values": "true"},
                json={"values": dict(values)},
            )
        except HttpStatus as exc:
            if exc.status >= 500:
                raise Transient() from None
            raise self.backend._mapped(exc, "update", self.name) from None

    def read(self, secret_id: uuid.UUID) -> StoredSecret:
        found = self.backend._read(str(secret_id), self.name)
        if found is None:
            raise SecretNotFoundError(self.name)
        return found

    def create_tag(self, name: str) -> str:
        try:
            data = self.backend.request("POST", "/tags", "update", json={"name": name})
        except HttpStatus as exc:
            if exc.status == 409:
                raise TagExists() from None
            if exc.status >= 500:
                raise Transient() from None
            raise TagsRefused() from None
        return str(data["id"])

    def tag_ids(self, name: str) -> list[str]:
        try:
            data = self.backend.request(
                "GET", "/tags", "update", params={"name": f"equals:{name}", "hydrate": "false"}
            )
        except HttpStatus:
            return []
        return [str(t["id"]) for t in data.get("items") or [] if t.get("name") == name]

    def delete_tag(self, tag_id: str) -> None:
        try:
            self.backend.request("DELETE", f"/tags/{tag_id}", "update")
        except HttpStatus as exc:
            if exc.status != 404:
                raise BackendError(
                    f"Releasing a write lease on {self.url} failed ({exc}).", operation="update"
                ) from None
