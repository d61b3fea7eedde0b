"""Removing keys from a secret and renaming it (``kitaru secrets set --remove-key``, ``rename``).

Both go through the secret backend in use (:mod:`kitaru._store.backend`), so on
the embedded store and on a server of the pinned version they need no ZenML
import. The secret keeps its ID, visibility and other keys; a new name follows
ZenML's scoping rules (one public secret per name, one private per owner and
name).
"""

from __future__ import annotations

from collections.abc import Sequence

from kitaru._store import secret_store
from kitaru._store import validation as check
from kitaru._store.backend import StoredSecret


def remove_keys(ref: str, keys: Sequence[str]) -> StoredSecret:
    """Remove ``keys`` from the secret ``ref`` names exactly; nothing changes if one is missing.

    Raises:
        MissingSecretKeyError: the secret has no such key (no key is removed).
    """
    ref = check.validate_ref(ref)
    wanted = [check.validate_key(k) for k in dict.fromkeys(keys)]
    return secret_store.backend().remove_keys_ref(ref, wanted)


def rename(ref: str, new_name: str) -> tuple[StoredSecret, str]:
    """Rename the secret ``ref`` names exactly; returns it (same ID) and its old name.

    Raises:
        SecretExistsError: a secret of that name already exists in the same scope.
    """
    ref = check.validate_ref(ref)
    new_name = check.validate_name(new_name)
    return secret_store.backend().rename_ref(ref, new_name)
