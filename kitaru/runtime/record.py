"""The typed run record: what each checkpoint call leaves on its step.

An execution's statuses are in :mod:`kitaru.runtime.statuses`.

One model is written and read everywhere (replay, retry, the handle,
``kitaru executions``, isolated checkpoints). A :class:`CheckpointRecord` is
written once, when its call ends, as the ZenML step's own metadata, so whatever
kills the process afterwards, the store says what finished. ZenML's dashboard
shows a metadata key whose value is a flat mapping as a card of fields, so the
record is laid out as flat cards (``to_metadata``) rather than one nested blob,
and read back from the same cards (``from_metadata``). Never a secret value:
reads are secret names and key names, LLM calls are already redacted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CheckpointStatus = Literal["completed", "failed"]

RECORD_CARD = "kitaru"
_READ_CARD = "kitaru_secret_read_"
_LLM_CARD = "kitaru_llm_call_"
# Printed and logged output, kept in the same write as the record.
OUTPUT_CARD = "kitaru_logs"
RECORD_VERSION = 2


def iso(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC (what the dashboard and ``-o json`` show)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()


def unix(text: Any) -> float | None:
    """The inverse of :func:`iso` (None for anything that is not an ISO time)."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


class SecretReadRecord(BaseModel):
    """Reads of the same keys of one secret in one call (names only; never a value)."""

    model_config = ConfigDict(frozen=True)

    secret: str
    keys: tuple[str, ...]
    count: int = 1
    at: float
    last_at: float

    def card(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "keys": ", ".join(self.keys),
            "count": self.count,
            "first_at": iso(self.at),
            "last_at": iso(self.last_at),
        }

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> SecretReadRecord:
        keys = str(card.get("keys") or "")
        at = unix(card.get("first_at")) or 0.0
        return cls(
            secret=str(card.get("secret")),
            keys=tuple(k for k in keys.split(", ") if k),
            count=int(card.get("count") or 1),
            at=at,
            last_at=unix(card.get("last_at")) or at,
        )


class CheckpointRecord(BaseModel):
    """One checkpoint call (or flow-body ``llm()`` call) as it ended."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Invocation ID: name, name_2, ... per execution")
    name: str
    status: CheckpointStatus
    attempts: int = 1
    args_hash: str | None = None
    errors: tuple[str, ...] = ()
    error: str | None = None
    started: float
    ended: float
    secret_reads: tuple[SecretReadRecord, ...] = ()
    llm_calls: tuple[dict[str, Any], ...] = ()
    reused_from: str | None = None

    @property
    def duration_s(self) -> float:
        return round(self.ended - self.started, 4)

    def to_metadata(self, output: str | None = None) -> dict[str, Any]:
        """The record as flat metadata cards (one ZenML metadata write)."""
        head: dict[str, Any] = {
            "version": RECORD_VERSION,
            "checkpoint": self.name,
            "invocation_id": self.id,
            "status": self.status,
            "attempts": self.attempts,
            "fingerprint": self.args_hash or "",
            "started": iso(self.started),
            "ended": iso(self.ended),
            "duration_s": self.duration_s,
            "secret_reads": len(self.secret_reads),
            "llm_calls": len(self.llm_calls),
        }
        if self.errors:
            head["attempt_errors"] = ", ".join(self.errors)
        if self.error is not None:
            head["error"] = self.error
        if self.reused_from is not None:
            head["reused_from"] = self.reused_from
        cards: dict[str, Any] = {RECORD_CARD: head}
        for n, read in enumerate(self.secret_reads, 1):
            cards[f"{_READ_CARD}{n}"] = read.card()
        for n, call in enumerate(self.llm_calls, 1):
            cards[f"{_LLM_CARD}{n}"] = _llm_card(call)
        if output:
            cards[OUTPUT_CARD] = {"output": output}
        return cards

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> CheckpointRecord | None:
        """The record written by :meth:`to_metadata`, or None (no record, or an old one)."""
        head = metadata.get(RECORD_CARD)
        if not isinstance(head, dict) or head.get("version") != RECORD_VERSION:
            return None
        reads = [
            SecretReadRecord.from_card(metadata[f"{_READ_CARD}{n}"])
            for n in range(1, int(head.get("secret_reads") or 0) + 1)
            if isinstance(metadata.get(f"{_READ_CARD}{n}"), dict)
        ]
        calls = [
            _llm_from_card(metadata[f"{_LLM_CARD}{n}"])
            for n in range(1, int(head.get("llm_calls") or 0) + 1)
            if isinstance(metadata.get(f"{_LLM_CARD}{n}"), dict)
        ]
        attempt_errors = str(head.get("attempt_errors") or "")
        started = unix(head.get("started")) or 0.0
        return cls(
            id=str(head.get("invocation_id")),
            name=str(head.get("checkpoint")),
            status="completed" if head.get("status") == "completed" else "failed",
            attempts=int(head.get("attempts") or 1),
            args_hash=str(head.get("fingerprint") or "") or None,
            errors=tuple(e for e in attempt_errors.split(", ") if e),
            error=head.get("error"),
            started=started,
            ended=unix(head.get("ended")) or started,
            secret_reads=tuple(reads),
            llm_calls=tuple(calls),
            reused_from=head.get("reused_from"),
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for ``executions show`` and the fold onto the execution."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "attempts": self.attempts,
            "args_hash": self.args_hash,
            "errors": list(self.errors),
            "error": self.error,
            "started": iso(self.started),
            "ended": iso(self.ended),
            "duration_s": self.duration_s,
            "reused_from": self.reused_from,
        }


def _llm_card(call: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {}
    for key, value in call.items():
        if key == "at":
            card["at"] = iso(value) if isinstance(value, int | float) else value
        elif key == "prompt":
            # Messages as text fields the dashboard can show (role: content).
            for n, msg in enumerate(value or [], 1):
                if isinstance(msg, dict):
                    card[f"prompt_message_{n}"] = f"{msg.get('role')}: {msg.get('content')}"
        elif isinstance(value, dict):
            # One level down (token usage), as ``usage.prompt_tokens`` fields.
            for sub, item in value.items():
                card[f"{key}.{sub}"] = item if _scalar(item) else str(item)
        elif _scalar(value):
            card[key] = value
        else:
            card[key] = str(value)
    return card


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _llm_from_card(card: dict[str, Any]) -> dict[str, Any]:
    call: dict[str, Any] = {}
    prompt: list[dict[str, Any]] = []
    for key, value in card.items():
        if key.startswith("prompt_message_"):
            role, _, content = str(value).partition(": ")
            prompt.append({"role": role, "content": content})
        elif key == "at":
            call["at"] = unix(value)
        elif "." in key:
            outer, _, sub = key.partition(".")
            call.setdefault(outer, {})[sub] = value
        else:
            call[key] = value
    call["prompt"] = prompt
    return call


class RunnerInfo(BaseModel):
    """Which process runs an execution, so a reader can tell whether it still lives."""

    model_config = ConfigDict(frozen=True)

    token: str
    pid: int
    start_ticks: int | None = None
    pidns: str | None = None
    host: str | None = None
    boot_id: str | None = None
