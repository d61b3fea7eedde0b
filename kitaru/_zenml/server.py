"""The ZenML server connection made by ``kitaru login`` (kept in a 0600 file)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from kitaru._config import paths


def saved_server_url() -> str | None:
    """The server URL saved by ``kitaru login``, if any."""
    f = paths().server_file
    if not f.exists():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return str(url).rstrip("/") if url else None


@contextlib.contextmanager
def login_environment() -> Iterator[None]:
    """Scope in which ZenML's client is created (server credentials hook)."""
    yield
