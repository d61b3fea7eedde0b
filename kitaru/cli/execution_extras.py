"""Lines ``kitaru executions show`` prints for what a flow logged and waited for."""

from __future__ import annotations

import json
from typing import Any

MAX_LINE = 200


def metadata_line(metadata: Any) -> str:
    """Metadata (or an answer) as one line of JSON, cut to 200 characters."""
    text = json.dumps(metadata, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


def wait_lines(waits: tuple[dict[str, Any], ...]) -> list[str]:
    """The ``Waits:`` section: each wait, pending ones with question, schema and metadata."""
    lines = []
    for w in waits:
        name, status = w.get("name"), w.get("status")
        if status == "pending":
            lines.append(f"  {name:<24} pending since {str(w.get('created') or '-')[:19]}")
            if w.get("question"):
                lines.append(f"      question: {w['question']}")
            schema = w.get("schema")
            lines.append(
                "      schema:   "
                + (json.dumps(schema) if schema is not None else "none (continue or abort)")
            )
            if w.get("metadata"):
                lines.append(f"      metadata: {metadata_line(w['metadata'])}")
            continue
        who = w.get("answered_by") or "?"
        when = str(w.get("answered_at") or "-")[:19]
        lines.append(f"  {name:<24} {status} by {who} at {when}")
        if status == "answered" and w.get("value") is not None:
            lines.append(f"      value: {metadata_line(w['value'])}")
    return lines
