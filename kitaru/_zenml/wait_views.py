"""A wait condition as kitaru shows it: plain JSON, from ZenML's response or a stored row.

Without ZenML: :mod:`kitaru._zenml.waits` describes ZenML's responses with it, and
:mod:`kitaru._zenml.run_reads` the rows it reads from the embedded store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Keys kitaru keeps in a wait condition's metadata next to the user's.
SCHEMA_KEY = "kitaru_schema"
SECRETS_KEY = "kitaru_secrets"
# Who answered, by name: ZenML keeps only the user's ID, which other users may not
# be allowed to look up. Trusted only when its ID is the one ZenML recorded.
ANSWER_KEY = "kitaru_answer"
OWN_KEYS = (SCHEMA_KEY, SECRETS_KEY, ANSWER_KEY)
ABORT_RESULT: dict[str, Any] = {"kitaru_abort": True}


def answered_by(user_id: Any, recorded: Any, look_up: Callable[[Any], str]) -> str | None:
    """The answering user's name: the one recorded with the answer, else ``look_up``'s."""
    if user_id is None:
        return None
    if isinstance(recorded, dict) and recorded.get("by_id") == str(user_id):
        return str(recorded.get("by"))
    return look_up(user_id)


def describe(condition: Any, look_up: Callable[[Any], str]) -> dict[str, Any]:
    """The wait ``condition`` as plain JSON (``look_up``: a user ID to its name)."""
    meta = dict(condition.run_metadata or {})
    pending = str(getattr(condition.status, "value", condition.status)) == "pending"
    aborted = condition.result == ABORT_RESULT
    return {
        "id": str(condition.id),
        "name": condition.name,
        "status": "pending" if pending else ("aborted" if aborted else "answered"),
        "question": condition.question,
        "schema": meta.get(SCHEMA_KEY),
        "metadata": {k: v for k, v in meta.items() if k not in OWN_KEYS},
        "created": condition.created.isoformat() if condition.created else None,
        "answered_by": None
        if pending
        else answered_by(condition.resolved_by_user_id, meta.get(ANSWER_KEY), look_up),
        "answered_at": condition.resolved_at.isoformat() if condition.resolved_at else None,
        "value": None if pending or aborted else condition.result,
        "secrets": list(meta.get(SECRETS_KEY) or []),
    }
