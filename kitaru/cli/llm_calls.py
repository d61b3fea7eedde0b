"""One line per recorded LLM call, for ``kitaru executions show``."""

from __future__ import annotations

from typing import Any


def _tokens(usage: Any) -> str:
    if not isinstance(usage, dict):
        return "tokens ?"
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return f"tokens {prompt if prompt is not None else '?'}/{completion or 0}"


def llm_call_line(call: dict[str, Any]) -> str:
    """``alias (model) [checkpoint] tokens in/out, cost, latency, credential``; no values."""
    alias = call.get("alias")
    model = call.get("model") or "?"
    label = f"{alias} ({model})" if alias else model
    where = call.get("checkpoint") or "flow body"
    cost = call.get("cost_usd")
    latency = call.get("latency_s")
    parts = [
        _tokens(call.get("usage")),
        f"${cost:.6f}" if isinstance(cost, (int, float)) else "cost ?",
        f"{latency:.2f}s" if isinstance(latency, (int, float)) else "-",
    ]
    credential = call.get("credential") or call.get("credential_source") or "?"
    overridden = call.get("credential_overrides_secret")
    if overridden:
        credential += f" (overrides secret:{overridden})"
    parts.append(f"credential {credential}")
    if call.get("error"):
        parts.append(f"error: {call['error']}")
    return f"{label} [{where}] " + ", ".join(parts)
