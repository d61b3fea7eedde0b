"""Small checkpoint outputs viewable on ZenML's dashboard (its artifact visualizations).

ZenML's built-in materializers save a string, number or JSON-able list/dict as a
JSON file and can register that same file as the artifact's visualization: no
second copy is written. kitaru lets ZenML do so only

- when a server is in use (with the embedded store there is no dashboard, so
  the cost stays off), and
- for outputs of plain types whose JSON is at most :data:`MAX_VISUALIZED_BYTES`
  (64 KiB); a larger output is still stored, it is just not offered as a view.

Outputs were checked by the leak guard before ZenML saves them, so a view never
shows a secret value that the stored output would not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MAX_VISUALIZED_BYTES = 64 * 1024
_PLAIN = (str, int, float, bool, list, dict, tuple, type(None))
_installed = False


def small_enough(data: Any) -> bool:
    """True if ``data`` is a plain value whose JSON fits :data:`MAX_VISUALIZED_BYTES`."""
    if not isinstance(data, _PLAIN):
        return False
    if isinstance(data, str):
        return len(data.encode("utf-8", "replace")) <= MAX_VISUALIZED_BYTES
    try:
        text = json.dumps(data)
    except (TypeError, ValueError, RecursionError):
        return False
    return len(text.encode("utf-8")) <= MAX_VISUALIZED_BYTES


def _viewed(original: Callable[..., Any], data: Any, materializer: Any) -> Any:
    from kitaru._config.connection import server_url

    if not server_url() or not small_enough(data):
        return []
    return original(data=data, materializer=materializer)


def install() -> None:
    """Let ZenML register views only as described above (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    from zenml.artifacts import utils

    name = "_save_artifact_visualizations"
    original = getattr(utils, name)

    def save_visualizations(data: Any, materializer: Any) -> Any:
        return _viewed(original, data, materializer)

    setattr(utils, name, save_visualizations)
