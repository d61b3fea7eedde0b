"""Where kitaru notes the local server it started (``local-server.json``); no ZenML import.

Read on every client start (to point ZenML's local artifact store at the
embedded store's directory while kitaru uses that server), so it stays cheap:
one small file, no process check.
"""

from __future__ import annotations

import json
from pathlib import Path

from kitaru._config import Paths, paths


def state_file(p: Paths) -> Path:
    """The file that records the running local server (URL, pid, password file)."""
    return p.root / "local-server.json"


def local_stores_path(url: str) -> str | None:
    """The embedded store's local stores directory if ``url`` is kitaru's local server."""
    p = paths()
    try:
        data = json.loads(state_file(p).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("url") != url.rstrip("/"):
        return None
    return str(p.zenml / "local_stores")
