"""Remember secret values resolved in this process; find or redact them in output.

Each value is remembered in the forms in which it could slip out: as is,
URL-encoded, JSON/``repr``/``ascii``-escaped, as the ``repr`` of its UTF-8
bytes, hex (lower and upper case), ``%XX`` of every byte, ``\\uXXXX`` of every
character, and base64-encoded (standard and URL-safe). A base64 encoding
depends on where the value sits in the encoded text (``base64("user:" + token)``
does not contain ``base64(token)``), so for each of the three byte alignments the
characters that depend only on the value are remembered too (for values of
:data:`TOKEN_LENGTH` characters or more).

Matching rules: values shorter than :data:`MIN_LENGTH` are never matched (they
would redact ordinary text); values shorter than :data:`TOKEN_LENGTH` are
matched only as whole tokens, not inside a longer run of letters and digits
(``5432`` is found in ``port 5432`` but not in ``15432``); longer values are
matched anywhere. Only values that were actually read are remembered (see
:class:`kitaru.Secret`), and those that ``kitaru secrets run`` put in this
process's environment (named in ``KITARU_SECRET_KEYS``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle
import re
import threading
import types
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MIN_LENGTH = 4
# Values shorter than this are matched only as whole tokens, longer ones anywhere.
TOKEN_LENGTH = 12
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


def _escapes(value: str) -> set[str]:
    """Hex, ``%XX`` of every byte and ``\\uXXXX`` of every character, in both cases."""
    raw = value.encode("utf-8")
    utf16 = value.encode("utf-16-be")
    units = [int.from_bytes(utf16[i : i + 2], "big") for i in range(0, len(utf16), 2)]
    out = {raw.hex(), "".join(f"%{b:02x}" for b in raw), "".join(f"\\u{u:04x}" for u in units)}
    return out | {form.upper().replace("\\U", "\\u") for form in out}


def _forms(value: str, *, fragments: bool) -> set[str]:
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
        ascii(value)[1:-1],
        repr(raw)[2:-1],  # the bytes repr: b'caf\xc3\xa9'
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii"),
    }
    # base64 padding shifts with the surrounding text; the unpadded form still matches.
    forms |= {f.rstrip("=") for f in list(forms)}
    forms |= _escapes(value)
    if fragments:
        forms |= _base64_fragments(raw, base64.b64encode)
        forms |= _base64_fragments(raw, base64.urlsafe_b64encode)
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _token_patterns(form: str) -> tuple[re.Pattern[str], re.Pattern[bytes]]:
    """``form`` as a whole token: not preceded or followed by a letter or digit."""
    body = re.escape(form)
    data = re.escape(form.encode("utf-8"))
    if form[0].isalnum():
        body, data = r"(?<![^\W_])" + body, rb"(?<![A-Za-z0-9])" + data
    if form[-1].isalnum():
        body, data = body + r"(?![^\W_])", data + rb"(?![A-Za-z0-9])"
    return re.compile(body), re.compile(data)


@dataclass(frozen=True)
class _Form:
    """One remembered form of a value and how it is matched."""

    text: str
    data: bytes
    match: Match
    # Set for values shorter than TOKEN_LENGTH: matched only as whole tokens.
    token: re.Pattern[str] | None
    token_data: re.Pattern[bytes] | None

    def in_text(self, text: str) -> bool:
        if self.text not in text:
            return False
        return self.token is None or self.token.search(text) is not None

    def in_bytes(self, data: bytes) -> bool:
        if self.data not in data:
            return False
        return self.token_data is None or self.token_data.search(data) is not None

    def redact(self, text: str) -> str:
        if self.token is None:
            return text.replace(self.text, REDACTED)
        return self.token.sub(REDACTED, text)


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
    """Thread-safe set of secret values (in all their forms) to find or redact."""

    def __init__(self) -> None:
        self._forms: dict[str, _Form] = {}
        self._ordered: list[_Form] = []
        # Values whose forms are all in: a flow reads the same value again and again,
        # and working out its forms (encodings, fragments) costs far more than the read.
        self._remembered: set[str] = set()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._forms)

    def remember(self, value: str, *, secret: str, key: str | None = None) -> None:
        """Remember ``value`` (of ``secret``/``key``); see the module docstring for the rules."""
        if len(value) < MIN_LENGTH:
            return
        token = len(value) < TOKEN_LENGTH
        match = Match(secret, key)
        with self._lock:
            if value in self._remembered:
                return
            added = False
            for text in _forms(value, fragments=not token):
                if text in self._forms:
                    continue
                patterns = _token_patterns(text) if token else (None, None)
                self._forms[text] = _Form(text, text.encode("utf-8"), match, *patterns)
                added = True
            self._remembered.add(value)
            if added:
                # Longest first, so a value is redacted whole before any shorter form in it.
                self._ordered = sorted(self._forms.values(), key=lambda f: -len(f.text))

    def find_in_text(self, text: str) -> Match | None:
        """The first remembered value found in ``text``, if any."""
        for form in self._ordered:
            if form.in_text(text):
                return form.match
        return None

    def find_in_bytes(self, data: bytes) -> Match | None:
        """The first remembered value found in ``data``, if any."""
        for form in self._ordered:
            if form.in_bytes(data):
                return form.match
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
        for form in self._ordered:
            if form.in_text(text):
                text = form.redact(text)
        return text


# Set by `kitaru secrets run`: names of the variables it took from secrets.
SECRET_KEYS_VAR = "KITARU_SECRET_KEYS"
# How those values are named in a leak error (the secret's own name is not passed on).
SECRETS_RUN_LABEL = "kitaru secrets run"


def _from_secrets_run() -> Redactor:
    """A redactor that already knows the values ``kitaru secrets run`` put in the environment."""
    redactor = Redactor()
    for key in os.environ.get(SECRET_KEYS_VAR, "").split(","):
        value = os.environ.get(key.strip()) if key.strip() else None
        if value:
            redactor.remember(value, secret=SECRETS_RUN_LABEL, key=key.strip())
    return redactor


_PROCESS = _from_secrets_run()


def process_redactor() -> Redactor:
    """The values resolved by any secret read in this process, for the life of the process.

    Every value a :class:`~kitaru.Secret` hands out (inside or outside a flow, in
    any thread) is remembered here; the leak guard of every execution consults it.
    """
    return _PROCESS


def find_resolved_value(obj: Any) -> Match | None:
    """Which secret value resolved in this process ``obj`` holds, if any (never the value)."""
    return _PROCESS.find_in_object(obj)


def remember_resolved(secret: str, values: Mapping[str, str]) -> None:
    """Remember the ``values`` (key to value) just read from ``secret`` for the process."""
    for key, value in values.items():
        _PROCESS.remember(value, secret=secret, key=key)
