"""Access tokens exchanged for an API key, kept between commands.

A ZenML server checks an API key against its stored hash on every login
(``POST /api/v1/login``), which costs most of a second: more than everything
else a ``kitaru secrets`` command does against a server. ZenML's own client
keeps the token it got; so does kitaru, in ``tokens/<hash of the URL>.json`` in
its config directory (directory 0700, file 0600, written atomically).

The file records a SHA-256 of the server URL and the API key together, never
the key itself: a token is used only for the same key on the same server, and a
file written for another key is dropped. A token is dropped a minute before the
expiry the server gave, and whenever the server answers 401 (key rotated or
deactivated, server secret changed); the caller then logs in again once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from kitaru._config import paths, write_private_file

#: A token this close to its expiry is not used (a command may take that long).
EXPIRY_MARGIN_S = 60
_FILE_VERSION = 1


def _file(url: str) -> Path:
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return paths().root / "tokens" / f"{digest}.json"


def _fingerprint(url: str, api_key: str) -> str:
    return hashlib.sha256(f"{url}\n{api_key}".encode()).hexdigest()


def load(url: str, api_key: str) -> str | None:
    """The cached token for ``api_key`` on ``url``, or None (a stale file is removed)."""
    path = _file(url)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        drop(url)
        return None
    token = data.get("token") if isinstance(data, dict) else None
    expires = data.get("expires_at") if isinstance(data, dict) else None
    if (
        not isinstance(token, str)
        or not token
        or data.get("key") != _fingerprint(url, api_key)
        or (isinstance(expires, (int, float)) and expires - EXPIRY_MARGIN_S <= time.time())
    ):
        drop(url)
        return None
    return token


def save(url: str, api_key: str, token: str, expires_in: int | None) -> None:
    """Keep ``token`` for the next command (best effort: a failed write only costs a login)."""
    data = {
        "version": _FILE_VERSION,
        "key": _fingerprint(url, api_key),
        "token": token,
        "expires_at": int(time.time()) + expires_in if expires_in else None,
    }
    with contextlib.suppress(OSError):
        write_private_file(_file(url), json.dumps(data) + "\n")
        os.chmod(_file(url).parent, 0o700)


def drop(url: str) -> None:
    """Forget the token kept for ``url`` (if any)."""
    with contextlib.suppress(OSError):
        _file(url).unlink()
