"""Small checkpoint outputs viewable on ZenML's dashboard (its artifact visualizations).

ZenML's built-in materializers save a string, number or JSON-able list/dict as a
JSON file and can register that same file as the artifact's visualization: no
second copy is written. kitaru lets ZenML do so only

- when a server is in use (with the embedded store there is no dashboard, so
  the cost stays off), and
- for outputs kept inline by the one rule of ``kitaru.runtime.inline`` (plain
  JSON types, at most 64 KiB of JSON, the limit of a result kept in the run
  record too); a larger output is still stored, it is just not offered as a view.

Outputs were checked by the leak guard before ZenML saves them, so a view never
shows a secret value that the stored output would not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kitaru.runtime.inline import inline_json

_installed = False


def _viewed(original: Callable[..., Any], data: Any, materializer: Any) -> Any:
    from kitaru._config.connection import server_url

    if not server_url() or inline_json(data, tuples=True) is None:
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
