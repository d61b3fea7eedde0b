"""Lines ``kitaru executions show`` prints for what a flow logged and waited for."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kitaru.wait_input import WaitInfo

MAX_LINE = 200


def metadata_line(metadata: Any) -> str:
    """Metadata (or an answer) as one line of JSON, cut to 200 characters."""
    text = json.dumps(metadata, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


def wait_lines(waits: tuple[WaitInfo, ...]) -> list[str]:
    """The ``Waits:`` section: each wait, pending ones with question, schema and metadata."""
    lines = []
    for w in waits:
        if w.status == "pending":
            lines.append(f"  {w.name:<24} pending since {(w.created or '-')[:19]}")
            if w.question:
                lines.append(f"      question: {w.question}")
            schema = w.answer_schema
            lines.append(
                "      schema:   "
                + (json.dumps(schema) if schema is not None else "none (continue or abort)")
            )
            if w.metadata:
                lines.append(f"      metadata: {metadata_line(w.metadata)}")
            continue
        when = (w.answered_at or "-")[:19]
        lines.append(f"  {w.name:<24} {w.status} by {w.answered_by or '?'} at {when}")
        if w.status == "answered" and w.value is not None:
            lines.append(f"      value: {metadata_line(w.value)}")
    return lines
