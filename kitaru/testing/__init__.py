"""Test helpers shipped with kitaru: a local OpenAI-compatible server.

The ``kitaru_subprocess`` orchestrator flavor lives in
``kitaru.testing.subprocess_orchestrator``; ZenML imports it by path when a
stack uses it, so it is not imported here.
"""

from kitaru.testing.openai_server import LocalOpenAIServer, RecordedRequest

__all__ = ["LocalOpenAIServer", "RecordedRequest"]
