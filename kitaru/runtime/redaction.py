"""Remember secret values resolved in an execution; find or redact them in output.

Each value is remembered in the forms in which it could slip out: as is,
base64-encoded (standard and URL-safe) and URL-encoded. Values shorter than
:data:`MIN_LENGTH` are not matched, since they would redact ordinary text.
"""

from __future__ import annotations

import base64
import pickle
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

MIN_LENGTH = 4
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Match:
    """Which secret (and key) a found value belongs to. Never the value."""

    secret: str
    key: str | None


def _forms(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii"),
    }
    # base64 padding shifts with the surrounding text; the unpadded core still matches.
    forms |= {f.rstrip("=") for f in list(forms)}
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Redactor:
    """Thread-safe set of secret values (in all their forms) for one execution."""

    def __init__(self) -> None:
        self._forms: dict[str, Match] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._forms)

    def remember(self, value: str, *, secret: str, key: str | None = None) -> None:
        """Remember ``value`` (of ``secret``/``key``) for this execution."""
        if len(value) < MIN_LENGTH:
            return
        with self._lock:
            for form in _forms(value):
                self._forms.setdefault(form, Match(secret, key))

    def find_in_text(self, text: str) -> Match | None:
        """The first remembered value found in ``text``, if any."""
        for form, match in self._ordered():
            if form in text:
                return match
        return None

    def find_in_bytes(self, data: bytes) -> Match | None:
        """The first remembered value found in ``data``, if any."""
        for form, match in self._ordered():
            if form.encode("utf-8") in data:
                return match
        return None

    def find_in_object(self, obj: Any) -> Match | None:
        """The first remembered value anywhere in ``obj``'s serialised form."""
        if not self._forms:
            return None
        if isinstance(obj, str):
            return self.find_in_text(obj)
        if isinstance(obj, bytes):
            return self.find_in_bytes(obj)
        try:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return self.find_in_text(repr(obj)) or self.find_in_text(str(obj))
        return self.find_in_bytes(data) or self.find_in_text(repr(obj))

    def redact(self, text: str) -> str:
        """``text`` with every remembered value replaced by ``[REDACTED]``."""
        for form, _ in self._ordered():
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def _ordered(self) -> list[tuple[str, Match]]:
        with self._lock:
            # Longest first, so a value is redacted whole before any shorter form in it.
            return sorted(self._forms.items(), key=lambda kv: -len(kv[0]))
