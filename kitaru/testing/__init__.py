"""Helpers for testing code that uses kitaru (not part of the main API)."""

from kitaru.testing.fresh_process import call_in_fresh_process
from kitaru.testing.openai_server import LocalOpenAIServer, RecordedRequest

__all__ = ["LocalOpenAIServer", "RecordedRequest", "call_in_fresh_process"]
