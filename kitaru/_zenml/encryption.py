"""The embedded secret store's encryption key, kept in one 0600 file.

ZenML's own way (``ZENML_SECRETS_STORE_ENCRYPTION_KEY``) writes the key in plain
text into its ``config.yaml`` and lets one start with a wrong key overwrite it.
kitaru instead plugs in :class:`kitaru._zenml.keyed_store.KitaruSqlSecretsStore`,
which reads the key from this module on every start. ZenML's config then names
only the store class, never the key.

Next to the key sits a fingerprint (``secrets.key.check``). A start with a key
that does not match it, or with no key while a store already exists, fails with
:class:`~kitaru.errors.EncryptionKeyError` before anything is read or written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from kitaru._config import Paths, ensure_private_dir, paths, write_private_file
from kitaru.errors import EncryptionKeyError

_CHECK_LABEL = b"kitaru-secret-store-key-check-v1"


def fingerprint(key: str) -> str:
    """A non-reversible fingerprint of ``key`` (safe to store and print)."""
    return hmac.new(key.encode("utf-8"), _CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


def load_or_create_key(p: Paths | None = None) -> str:
    """Return the store key, creating it on the very first use of a new store.

    Raises:
        EncryptionKeyError: the key file is missing although a store exists, or the
            key does not match the fingerprint the store was created with.
    """
    p = p or paths()
    key_file = str(p.key_file)
    if p.key_file.exists():
        key = p.key_file.read_text(encoding="utf-8").strip()
        if not key:
            raise EncryptionKeyError(
                f"The secret store key file {key_file} is empty. Restore it from your backup; "
                "kitaru did not change anything.",
                key_file=key_file,
            )
        if (os.stat(p.key_file).st_mode & 0o077) != 0:
            os.chmod(p.key_file, 0o600)
        _verify(p, key)
        return key
    if p.key_check_file.exists() or p.local_store_db.exists():
        raise EncryptionKeyError(
            f"The secret store key file {key_file} is missing, but a kitaru store already exists "
            f"in {p.root}. Restore the key file from your backup to read existing secrets. "
            "kitaru will not create a new key over an existing store, because every existing "
            f"secret would become unreadable. To start over instead, remove {p.root} entirely.",
            key_file=key_file,
        )
    ensure_private_dir(p.root)
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
    # O_EXCL: two processes racing on a brand-new store must not write two keys.
    try:
        fd = os.open(p.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_key(p)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    record_fingerprint(p, key)
    return key


def _verify(p: Paths, key: str) -> None:
    if not p.key_check_file.exists():
        # Key present but fingerprint lost. Without a store nothing is at risk, so
        # re-derive it; with a store, the keyed secrets store first checks the key
        # against a stored secret and only then records the fingerprint.
        if not p.local_store_db.exists():
            record_fingerprint(p, key)
        return
    expected = p.key_check_file.read_text(encoding="utf-8").strip()
    if not hmac.compare_digest(expected, fingerprint(key)):
        raise wrong_key_error(p, f"created with (fingerprint {expected[:12]}...)")


def record_fingerprint(p: Paths, key: str) -> None:
    """Write the fingerprint of ``key``, the store's verified key."""
    write_private_file(p.key_check_file, fingerprint(key) + "\n")


def has_fingerprint(p: Paths) -> bool:
    """True if the store's key fingerprint is on disk."""
    return p.key_check_file.exists()


def wrong_key_error(p: Paths, detail: str) -> EncryptionKeyError:
    """The error for a key file that does not belong to the store."""
    return EncryptionKeyError(
        f"The secret store key in {p.key_file} does not match the key this store was "
        f"{detail}. Restore the original key file from your backup. kitaru refused to start "
        "so that no secret is written with the wrong key; nothing was changed.",
        key_file=str(p.key_file),
    )


def key_status(p: Path | None = None) -> str:
    """One word for `kitaru status`: ``present``, ``mismatch``, ``missing`` or ``new``."""
    pp = Paths(p) if p else paths()
    if pp.key_file.exists():
        if pp.key_check_file.exists():
            key = pp.key_file.read_text(encoding="utf-8").strip()
            expected = pp.key_check_file.read_text(encoding="utf-8").strip()
            if not hmac.compare_digest(expected, fingerprint(key)):
                return "mismatch"
        return "present"
    return "missing" if (pp.key_check_file.exists() or pp.local_store_db.exists()) else "new"
