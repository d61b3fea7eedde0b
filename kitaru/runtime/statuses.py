"""An execution's statuses, apart from the record's models so reading them needs no pydantic."""

from __future__ import annotations

from typing import Literal

ExecutionStatus = Literal["running", "waiting", "completed", "failed", "crashed", "cancelled"]
EXECUTION_STATUSES: tuple[str, ...] = (
    "running",
    "waiting",
    "completed",
    "failed",
    "crashed",
    "cancelled",
)
