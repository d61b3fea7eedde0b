"""Helpers for testing code that uses kitaru (not part of the main API).

Names are loaded on first use, so ``python -m kitaru.testing.openai_server``
runs that module only once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kitaru.testing.fresh_process import call_in_fresh_process
    from kitaru.testing.openai_server import LocalOpenAIServer, RecordedRequest

__all__ = ["LocalOpenAIServer", "RecordedRequest", "call_in_fresh_process"]

_HOMES = {
    "LocalOpenAIServer": "kitaru.testing.openai_server",
    "RecordedRequest": "kitaru.testing.openai_server",
    "call_in_fresh_process": "kitaru.testing.fresh_process",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kitaru.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
