"""What a secret read gives and leaves: the fetched secret, and the read's audit entry.

:class:`LoadedSecret` is what an execution's ``fetch_secret`` returns (the store's
``StoredSecret`` is one; the runtime does not import the store). :class:`SecretRead`
is one entry of the read audit (names and keys, never a value), and the one
place that turns a read into its stored forms and back: plain JSON (the
execution's record, the handle) and a :class:`SecretReadRecord` (a card on the
step of the checkpoint that read it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kitaru.runtime.record import SecretReadRecord


class LoadedSecret(Protocol):
    """A secret as fetched from the store: ``values`` maps unreadable keys to None."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def private(self) -> bool: ...
    @property
    def values(self) -> Mapping[str, str | None]: ...
    @property
    def updated(self) -> str | None: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def unavailable_keys(self) -> tuple[str, ...]: ...


@dataclass
class SecretRead:
    """Audited reads of the same keys of one secret in one place. Never a value.

    Repeated reads (a loop calling ``secret.get``) are counted on one entry with
    the first (``at``) and last (``last_at``) time, so the audit stays small.
    ``checkpoint`` is the checkpoint's name, None for a read in the flow body.
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

    @classmethod
    def from_json(cls, data: Any) -> SecretRead | None:
        """The read :meth:`to_json` wrote; None for anything that is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("secret"), str):
            return None
        checkpoint = data.get("checkpoint")
        last_at = data.get("last_at")
        return cls(
            secret=data["secret"],
            keys=tuple(str(k) for k in data.get("keys") or ()),
            checkpoint=checkpoint if isinstance(checkpoint, str) else None,
            at=float(data.get("at") or 0.0),
            count=int(data.get("count") or 1),
            last_at=float(last_at) if isinstance(last_at, (int, float)) else None,
        )

    def to_record(self) -> SecretReadRecord:
        """The card form, kept on the step of the checkpoint that read it."""
        from kitaru.runtime.record import SecretReadRecord  # pydantic: not at import

        last_at = self.last_at if self.last_at is not None else self.at
        return SecretReadRecord(
            secret=self.secret, keys=self.keys, count=self.count, at=self.at, last_at=last_at
        )

    @classmethod
    def from_record(cls, record: SecretReadRecord, checkpoint: str) -> SecretRead:
        """A card read back from the step of ``checkpoint``."""
        return cls(
            secret=record.secret,
            keys=record.keys,
            checkpoint=checkpoint,
            at=record.at,
            count=record.count,
            last_at=record.last_at,
        )
