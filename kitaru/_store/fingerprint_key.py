"""The key of the replay fingerprints: argument fingerprints are HMACs under it.

A run record keeps, per checkpoint call, a fingerprint of its arguments (and of
the prompt of a flow-body ``llm()`` call) so a replay can tell whether a call
still matches. An unkeyed hash of a small argument (a 4-digit PIN) is reversed by
trying every candidate, so the fingerprint is an HMAC whose key never sits in the
run records:

- with the embedded store: ``fingerprint.key`` beside the secret store's key in
  kitaru's config directory (0600, created on first use);
- with a server: the public secret ``kitaru-fingerprint-key`` in the server's
  secret store (created on first use), so whoever may replay an execution can
  compute the same fingerprints, while the database or a run export alone
  reveals nothing.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import threading
from pathlib import Path

from kitaru._config import (
    dangling_link_message,
    ensure_private_dir,
    paths,
    per_process_cache,
    private_temp_file,
    tighten_mode,
)
from kitaru.errors import KitaruError, SecretExistsError

KEY_FILE_NAME = "fingerprint.key"
SERVER_SECRET = "kitaru-fingerprint-key"
SERVER_SECRET_KEY = "KEY"

logger = logging.getLogger("kitaru")

_cache: dict[str, bytes] = per_process_cache({})
_lock = threading.Lock()


def _new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except ValueError:
        key = b""
    if len(key) < 16:
        raise KitaruError(
            f"The replay fingerprint key in {where} is damaged. Remove it to start a new one "
            "(executions recorded so far then cannot be replayed with reused checkpoints)."
        )
    return key


def _local_key(root: Path) -> bytes:
    """The key in ``root/fingerprint.key``, created (0600, atomically) if missing."""
    path = root / KEY_FILE_NAME
    dangling = dangling_link_message(path, "replay fingerprint key")
    if dangling:
        raise KitaruError(dangling)
    if not path.exists():
        ensure_private_dir(root)
        fd, tmp = private_temp_file(path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(_new_key() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            # A link never replaces: of two processes creating the key, one wins.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KitaruError(f"Cannot read the replay fingerprint key {path}: {exc}.") from None
    key = _decode(text, str(path))
    mode = tighten_mode(path)
    if mode is not None:
        logger.warning(
            "The replay fingerprint key %s had mode %s, readable by other users; it is now "
            "private. Whoever read it could forge replay fingerprints: remove it to start a "
            "new one (recorded executions then replay without reusing checkpoints).",
            path,
            oct(mode),
        )
    return key


def _server_key(url: str) -> bytes:
    """The key in the server's secret store, created on first use."""
    from kitaru._store.secret_store import backend

    where = f"secret {SERVER_SECRET!r} on {url}"
    store = backend()
    stored = store.find(SERVER_SECRET)
    if stored is None:
        try:
            stored = store.create(SERVER_SECRET, {SERVER_SECRET_KEY: _new_key()}, private=False)
        except SecretExistsError:
            stored = store.get(SERVER_SECRET)  # another process was first
    value = stored.values.get(SERVER_SECRET_KEY)
    if not isinstance(value, str):
        raise KitaruError(f"The replay fingerprint key ({where}) cannot be read by this user.")
    return _decode(value, where)


def fingerprint_key() -> bytes:
    """The HMAC key of replay fingerprints for the current store (cached per process)."""
    from kitaru._config.connection import server_url

    url = server_url()
    where = f"server:{url}" if url else f"local:{paths().root}"
    with _lock:
        key = _cache.get(where)
        if key is None:
            key = _server_key(url) if url else _local_key(paths().root)
            _cache[where] = key
        return key
