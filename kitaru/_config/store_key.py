"""The embedded secret store's encryption key, kept in one 0600 file.

ZenML's own way (``ZENML_SECRETS_STORE_ENCRYPTION_KEY``) writes the key in plain
text into its ``config.yaml`` and lets one start with a wrong key overwrite it.
kitaru instead plugs in :class:`kitaru._zenml.keyed_store.KitaruSqlSecretsStore`,
which reads the key from this module on every start. ZenML's config then names
only the store class, never the key.

Next to the key sits a fingerprint (``secrets.key.check``). A start with a key
that does not match it, or with no key while a store already exists, fails with
:class:`~kitaru.errors.EncryptionKeyError` before anything is read or written. A
damaged or stale fingerprint beside a key that decrypts the store is rebuilt.

Values are sealed with AES-GCM under the SHA-256 of the key, stored as
``base64(iv[12] + tag[16] + ciphertext)`` of the values' JSON: exactly what
``sqlalchemy_utils.AesGcmEngine`` writes for ZenML's SQL secrets store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from kitaru._config import (
    Paths,
    dangling_link_message,
    paths,
    tighten_mode,
    write_private_file,
)
from kitaru._config.store_access import first_row
from kitaru._config.store_dir import check_store_dir
from kitaru.errors import BackendError, EncryptionKeyError

logger = logging.getLogger("kitaru")

#: What a backend reports of the store key (``kitaru status``).
KeyStatus = Literal["present", "new", "missing", "mismatch"]
_CHECK_LABEL = b"kitaru-secret-store-key-check-v1"
_FINGERPRINT = re.compile(r"[0-9a-f]{32}\Z")
_IV, _TAG = 12, 16


def fingerprint(key: str) -> str:
    """A non-reversible fingerprint of ``key`` (safe to store and print)."""
    return hmac.new(key.encode("utf-8"), _CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


# ------------------------------------------------------------------ sealing values


def seal(key: str, values: Mapping[str, str]) -> str:
    """``values`` encrypted under ``key`` in ZenML's stored format."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(hashlib.sha256(key.encode("utf-8")).digest())
    iv = os.urandom(_IV)
    sealed = aead.encrypt(iv, json.dumps(dict(values)).encode("utf-8"), None)
    ciphertext, tag = sealed[:-_TAG], sealed[-_TAG:]
    return base64.b64encode(iv + tag + ciphertext).decode("ascii")


def unseal(key: str, stored: str | bytes) -> dict[str, str] | None:
    """The values sealed in ``stored``, or None if ``key`` cannot decrypt them."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(hashlib.sha256(key.encode("utf-8")).digest())
    try:
        raw = base64.b64decode(stored)
        iv, tag, ciphertext = raw[:_IV], raw[_IV : _IV + _TAG], raw[_IV + _TAG :]
        data = json.loads(aead.decrypt(iv, ciphertext + tag, None).decode("utf-8"))
    except (InvalidTag, ValueError):
        return None
    return {str(k): str(v) for k, v in dict(data).items()}


def key_opens_store(p: Paths, key: str) -> bool | None:
    """Whether ``key`` decrypts the store's newest secret (None: no secret to try)."""
    if not p.local_store_db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{p.local_store_db}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute(
                'SELECT "values" FROM secret WHERE "values" IS NOT NULL '
                "ORDER BY created DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return None if row is None else unseal(key, row[0]) is not None


def store_has_secrets(p: Paths) -> bool:
    """True unless the store provably holds no encrypted secret (no store, or none stored)."""
    if not p.local_store_db.is_file():
        return False
    try:
        row = first_row(p.local_store_db, 'SELECT 1 FROM secret WHERE "values" IS NOT NULL LIMIT 1')
    except (sqlite3.Error, BackendError):
        return True  # cannot tell: assume the worst
    return row is not None


# ------------------------------------------------------------------ the key file


def _read_key(p: Paths) -> str:
    key_file = p.key_file
    try:
        raw = key_file.read_bytes()
    except IsADirectoryError:
        raise EncryptionKeyError(
            f"The secret store key path {key_file} is a directory, not a key file. Move it "
            "away and restore the key file from your backup; kitaru did not change anything.",
            key_file=str(key_file),
        ) from None
    except OSError as exc:
        raise EncryptionKeyError(
            f"Cannot read the secret store key file {key_file}: "
            f"{exc.strerror or type(exc).__name__}. It must be a file you own (mode 0600).",
            key_file=str(key_file),
        ) from None
    try:
        key = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        key = ""
        if raw.strip():
            raise EncryptionKeyError(
                f"The secret store key file {key_file} is damaged (it holds binary data, not "
                "a key). Restore it from your backup; kitaru did not change anything.",
                key_file=str(key_file),
            ) from None
    if not key:
        raise EncryptionKeyError(
            f"The secret store key file {key_file} is empty. Restore it from your backup; "
            "kitaru did not change anything.",
            key_file=str(key_file),
        )
    mode = tighten_mode(key_file)
    if mode is not None:
        logger.warning(
            "The secret store key file %s had mode %s, readable by other users; it is now "
            "0600. The key may have been exposed: if other users can log in here, consider "
            "moving your secrets to a new store.",
            key_file,
            oct(mode),
        )
    return key


def load_or_create_key(p: Paths | None = None) -> str:
    """Return the store key, creating it on the very first use of a new store.

    Raises:
        EncryptionKeyError: the key file is missing although a store exists, is
            damaged or unreadable, or does not match the store.
    """
    p = p or paths()
    key_file = str(p.key_file)
    check_store_dir(p)
    dangling = dangling_link_message(p.key_file, "secret store key file")
    if dangling:
        raise EncryptionKeyError(dangling, key_file=key_file)
    if p.key_file.exists():
        if _key_file_is_empty(p) and not store_has_secrets(p):
            # Left by a kill while an older kitaru wrote a new key: nothing was ever
            # encrypted with it, so a new key loses nothing.
            logger.warning("The secret store key file %s was empty; made a new key.", p.key_file)
            return _create_key(p, replace=True)
        key = _read_key(p)
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
    return _create_key(p)


def _create_key(p: Paths, *, replace: bool = False) -> str:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
    # Written beside and linked into place: a kill never leaves an empty key file,
    # and of two processes racing on a brand-new store only one key wins.
    if not write_private_file(p.key_file, key + "\n", replace=replace):
        return load_or_create_key(p)
    record_fingerprint(p, key)
    return key


def _key_file_is_empty(p: Paths) -> bool:
    try:
        return not p.key_file.read_bytes().strip()
    except OSError:
        return False


def _read_fingerprint(p: Paths) -> str | None:
    """The recorded fingerprint, or None if the file is damaged."""
    try:
        text = p.key_check_file.read_bytes().decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if _FINGERPRINT.match(text) else None


def _verify(p: Paths, key: str) -> None:
    if not p.key_check_file.exists():
        # Key present but fingerprint lost. Without a store nothing is at risk, so
        # re-derive it; with a store, the store's secrets vouch for the key first.
        if not p.local_store_db.exists():
            record_fingerprint(p, key)
        return
    expected = _read_fingerprint(p)
    if expected is not None and hmac.compare_digest(expected, fingerprint(key)):
        return
    opens = key_opens_store(p, key)
    if opens or (expected is None and opens is None):
        # The key decrypts the store (or there is nothing it could harm): the
        # fingerprint beside it is what is wrong, so rebuild it.
        record_fingerprint(p, key)
        logger.warning(
            "The key fingerprint %s was damaged or stale; rebuilt it from the key in %s, "
            "which decrypts the store.",
            p.key_check_file,
            p.key_file,
        )
        return
    shown = f"fingerprint {expected[:12]}..." if expected else "a damaged fingerprint"
    raise wrong_key_error(p, f"created with ({shown})")


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


def key_status(p: Path | None = None) -> KeyStatus:
    """One word for `kitaru status`: ``present``, ``mismatch``, ``missing`` or ``new``."""
    pp = Paths(p) if p else paths()
    if pp.key_file.exists():
        expected = _read_fingerprint(pp) if pp.key_check_file.exists() else None
        if expected is not None:
            try:
                key = _read_key(pp)
            except EncryptionKeyError:
                return "mismatch"
            if not hmac.compare_digest(expected, fingerprint(key)):
                return "mismatch"
        return "present"
    return "missing" if (pp.key_check_file.exists() or pp.local_store_db.exists()) else "new"
