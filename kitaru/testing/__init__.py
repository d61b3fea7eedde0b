"""Test helpers shipped with kitaru: a local OpenAI-compatible server.

The ``kitaru_subprocess`` orchestrator flavor is
``kitaru.testing.subprocess_orchestrator``; it imports ZenML, and ZenML imports
it by path when a stack uses it, so it is not imported here. Names are loaded on first use, so
``python -m kitaru.testing.openai_server`` runs that module only once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kitaru.testing.openai_server import LocalOpenAIServer, RecordedRequest

__all__ = ["LocalOpenAIServer", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'kitaru.testing' has no attribute {name!r}")
    from kitaru.testing import openai_server

    value = getattr(openai_server, name)
    globals()[name] = value
    return value
