"""One entry of an execution's secret-read audit (names and keys, never a value)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SecretRead:
    """Audited reads of the same keys of one secret in one place. Never a value.

    Repeated reads (a loop calling ``secret.get``) are counted on one entry with
    the first (``at``) and last (``last_at``) time, so the audit stays small.
    """

    secret: str
    keys: tuple[str, ...]
    checkpoint: str | None
    at: float
    count: int = 1
    last_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "keys": list(self.keys),
            "checkpoint": self.checkpoint,
            "at": self.at,
            "count": self.count,
            "last_at": self.last_at if self.last_at is not None else self.at,
        }
