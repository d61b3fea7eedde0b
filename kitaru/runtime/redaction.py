"""Remember secret values resolved in an execution; find or redact them in output.

Each value is remembered in the forms in which it could slip out: as is,
URL-encoded, JSON/``repr``-escaped, and base64-encoded (standard and URL-safe).
A base64 encoding depends on where the value sits in the encoded text
(``base64("user:" + token)`` does not contain ``base64(token)``), so for each of
the three byte alignments the characters that depend only on the value are
remembered too. Values shorter than :data:`MIN_LENGTH` are not matched, since
they would redact ordinary text.
"""

from __future__ import annotations

import base64
import contextlib
import json
import pickle
import threading
import types
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MIN_LENGTH = 4
# Shortest base64 fragment (of a value embedded in longer encoded text) worth matching.
MIN_FRAGMENT = 6
# How many objects a structural scan of one output visits at most.
MAX_SCAN_NODES = 200_000
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Match:
    """Which secret (and key) a found value belongs to. Never the value."""

    secret: str
    key: str | None


def _base64_fragments(raw: bytes, encode: Callable[[bytes], bytes]) -> set[str]:
    """The part of ``encode(prefix + raw + suffix)`` that depends only on ``raw``.

    For each of the three alignments of ``raw`` within the encoded data: drop the
    leading characters that mix in the prefix's bits and the trailing one that
    mixes in the suffix's.
    """
    out: set[str] = set()
    for offset in range(3):
        encoded = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        start = -(-8 * offset // 6)
        end = (8 * (offset + len(raw))) // 6
        fragment = encoded[start:end]
        if len(fragment) >= MIN_FRAGMENT:
            out.add(fragment)
    return out


def _forms(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        urllib.parse.quote_plus(value, safe="/"),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii"),
    }
    # base64 padding shifts with the surrounding text; the unpadded form still matches.
    forms |= {f.rstrip("=") for f in list(forms)}
    forms |= _base64_fragments(raw, base64.b64encode)
    forms |= _base64_fragments(raw, base64.urlsafe_b64encode)
    return {f for f in forms if len(f) >= MIN_LENGTH}


# Leaves of the structural scan: numbers, and code or namespaces rather than data
# (functions are still covered by the pickled form, which includes closures).
_OPAQUE = (
    int,
    float,
    complex,
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
)


def _walk(obj: Any) -> Iterator[str | bytes]:
    """Every string and byte string reachable from ``obj`` (containers and attributes)."""
    stack = [obj]
    seen: set[int] = set()
    visited = 0
    while stack and visited < MAX_SCAN_NODES:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            continue
        if isinstance(item, (bytes, bytearray)):
            yield bytes(item)
            continue
        if item is None or isinstance(item, _OPAQUE):
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        visited += 1
        if isinstance(item, memoryview):
            with contextlib.suppress(TypeError, ValueError):
                yield item.tobytes()
            continue
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        try:
            attrs = object.__getattribute__(item, "__dict__")
        except (AttributeError, TypeError):
            attrs = None
        if isinstance(attrs, dict):
            stack.extend(attrs.values())
        for cls in type(item).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                with contextlib.suppress(AttributeError, TypeError):
                    stack.append(object.__getattribute__(item, slot))


def _serialised(obj: Any) -> bytes | None:
    """``obj`` as pickle bytes (cloudpickle for what plain pickle refuses), else None."""
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any object may refuse pickling in its own way
        pass
    try:
        import cloudpickle  # type: ignore[import-untyped]

        return bytes(cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - same
        return None


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
        """The first remembered value anywhere in ``obj``.

        Looks at every string reachable through containers and attributes, at
        ``obj``'s pickled form (what an artifact store would hold) and, as a last
        resort, at its ``repr``.
        """
        if not self._forms:
            return None
        if isinstance(obj, str):
            return self.find_in_text(obj)
        if isinstance(obj, (bytes, bytearray)):
            return self.find_in_bytes(bytes(obj))
        for part in _walk(obj):
            found = self.find_in_text(part) if isinstance(part, str) else self.find_in_bytes(part)
            if found is not None:
                return found
        data = _serialised(obj)
        if data is not None:
            found = self.find_in_bytes(data)
            if found is not None:
                return found
        try:
            return self.find_in_text(repr(obj)) or self.find_in_text(str(obj))
        except Exception:  # noqa: BLE001 - a broken ``__repr__`` is not a leak
            return None

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
