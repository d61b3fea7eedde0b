"""Removing keys from a secret and renaming it (``kitaru secrets set --remove-key``, ``rename``).

Both are rare, so they go through ZenML's store on every backend (the embedded
store and a server alike), under the backend's write lock: ZenML's
``update_secret`` deletes a key given as ``None`` and checks the scoping rules
of a new name (one public secret per name, one private per owner and name).
The secret keeps its ID, visibility and other keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kitaru import _secret_validation as check
from kitaru._zenml import secret_store
from kitaru._zenml.backend import StoredSecret
from kitaru._zenml.client import get_client
from kitaru._zenml.connection import server_url
from kitaru.errors import (
    BackendError,
    KitaruError,
    MissingSecretKeyError,
    SecretExistsError,
    SecretNotFoundError,
    SecretVisibilityError,
    ServerUnavailableError,
)

T = TypeVar("T")


def _zenml_update(operation: str, secret: str, private: bool, fn: Callable[[Any], T]) -> T:
    """Run ``fn(zen_store)`` and map ZenML's errors to kitaru's (messages hold no values)."""
    client = get_client()
    import requests
    from zenml.exceptions import EntityExistsError, IllegalOperationError

    try:
        return fn(client.zen_store)
    except KitaruError:
        raise
    except EntityExistsError:
        raise SecretExistsError(secret, private=private) from None
    except IllegalOperationError:
        raise SecretVisibilityError(secret, "only the user who created it may do that") from None
    except KeyError:
        raise SecretNotFoundError(secret) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        label = server_url() or "the local kitaru store"
        raise ServerUnavailableError(
            label, operation=operation, reason=type(exc).__name__
        ) from None
    except Exception as exc:  # noqa: BLE001 - mapped to one line without the message
        raise BackendError(
            f"{operation} of secret {secret!r} failed: {type(exc).__name__}", operation=operation
        ) from None


def remove_keys(ref: str, keys: Sequence[str]) -> StoredSecret:
    """Remove ``keys`` from the secret ``ref`` names exactly; nothing changes if one is missing.

    Raises:
        MissingSecretKeyError: the secret has no such key (no key is removed).
    """
    ref = check.validate_ref(ref)
    wanted = [check.validate_key(k) for k in dict.fromkeys(keys)]
    with secret_store.backend().write_lock():
        existing = secret_store.get_secret(ref)
        for key in wanted:
            if key not in existing.values:
                raise MissingSecretKeyError(existing.name, key)

        def run(store: Any) -> None:
            from zenml.models import SecretUpdate

            update = SecretUpdate(values=dict.fromkeys(wanted))
            store.update_secret(uuid.UUID(existing.id), secret_update=update)

        _zenml_update("update", existing.name, existing.private, run)
        return secret_store.get_secret(existing.id)


def rename(ref: str, new_name: str) -> tuple[StoredSecret, str]:
    """Rename the secret ``ref`` names exactly; returns it (same ID) and its old name.

    Raises:
        SecretExistsError: a secret of that name already exists in the same scope.
    """
    ref = check.validate_ref(ref)
    new_name = check.validate_name(new_name)
    with secret_store.backend().write_lock():
        existing = secret_store.get_secret(ref)
        if existing.name == new_name:
            return existing, existing.name
        clash = secret_store.backend().find(new_name)
        if clash is not None and clash.private == existing.private:
            raise SecretExistsError(new_name, private=existing.private)

        def run(store: Any) -> None:
            from zenml.models import SecretUpdate

            update = SecretUpdate(name=new_name)
            store.update_secret(uuid.UUID(existing.id), secret_update=update)

        _zenml_update("rename", new_name, existing.private, run)
        return secret_store.get_secret(existing.id), existing.name
