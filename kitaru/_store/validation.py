"""Checks on secret names, keys and values, run before anything is written.

Names and references are returned NFC-normalised, so two spellings of "café"
name one secret. Messages name the offending name or key, never a value.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from kitaru._config import per_process_cache
from kitaru.errors import InvalidSecretError

MAX_NAME_LENGTH = 255
MAX_KEY_LENGTH = 255
MAX_TOTAL_BYTES = 64 * 1024
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _show(text: str) -> str:
    """A printable, bounded rendering of user input for error messages."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    return repr(shown)


# Control and format characters, line/paragraph separators, and lone surrogates
# (which cannot be stored as UTF-8).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


def _escaped(text: str) -> str:
    """``text`` as printable ASCII, bounded (for names and keys, never values)."""
    shown = "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )
    return "'" + (shown if len(shown) <= 60 else shown[:57] + "...") + "'"


def _normalized(text: str, what: str) -> str:
    """``text`` in Unicode NFC (as stores compare names), refused if over the length limit."""
    text = str(unicodedata.normalize("NFC", text))
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidSecretError(
            f"{what} is {len(text)} characters long; the limit is {MAX_NAME_LENGTH}.",
            field="name",
        )
    return text


def validate_name(name: Any) -> str:
    """Return ``name`` if it is an acceptable secret name, else raise."""
    if not isinstance(name, str):
        raise InvalidSecretError(
            f"Secret name must be a string, got {type(name).__name__}.", field="name"
        )
    if not name:
        raise InvalidSecretError("Secret name must not be empty.", field="name")
    if not name.strip():
        raise InvalidSecretError("Secret name must not be blank.", field="name")
    if _has_control(name):
        raise InvalidSecretError(
            f"Secret name {_escaped(name)} contains control characters or is not valid "
            "Unicode text.",
            field="name",
        )
    if name != name.strip():
        raise InvalidSecretError(
            f"Secret name {_show(name)} has leading or trailing whitespace.",
            secret=name,
            field="name",
        )
    name = _normalized(name, "Secret name")
    try:
        uuid.UUID(name)
    except ValueError:
        return str(name)
    raise InvalidSecretError(
        f"Secret name {name!r} looks like a secret ID; choose a name that is not a UUID.",
        secret=name,
        field="name",
    )


def validate_key(key: Any, *, secret: str | None = None) -> str:
    """Return ``key`` if it is an environment-variable-style identifier, else raise."""
    if not isinstance(key, str):
        raise InvalidSecretError(
            f"Secret keys must be strings, got {type(key).__name__}.", secret=secret, field="key"
        )
    if not key:
        raise InvalidSecretError("Secret key must not be empty.", secret=secret, field="key")
    if len(key) > MAX_KEY_LENGTH or not KEY_PATTERN.match(key):
        raise InvalidSecretError(
            f"Invalid secret key {_escaped(key)}: use an "
            "environment-variable-style name (ASCII letters, digits and underscores, not "
            "starting with a digit), e.g. OPENAI_API_KEY.",
            secret=secret,
            field="key",
        )
    return key


def validate_value(key: str, value: Any, *, secret: str | None = None) -> str:
    """Return ``value`` if it is a non-empty string, else raise (never echoing it)."""
    if value is None:
        raise InvalidSecretError(
            f"Value of key {key!r} is missing (None).", secret=secret, field=key
        )
    if not isinstance(value, str):
        raise InvalidSecretError(
            f"Value of key {key!r} must be a string, got {type(value).__name__}.",
            secret=secret,
            field=key,
        )
    if value == "":
        raise InvalidSecretError(f"Value of key {key!r} is empty.", secret=secret, field=key)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSecretError(
            f"Value of key {key!r} is not valid Unicode text (it holds a lone surrogate).",
            secret=secret,
            field=key,
        ) from None
    return value


def validate_values(values: Any, *, secret: str | None = None) -> dict[str, str]:
    """Validate a mapping of key -> value; at least one key is required."""
    if not isinstance(values, Mapping):
        raise InvalidSecretError(
            f"Secret values must be a mapping of KEY to value, got {type(values).__name__}.",
            secret=secret,
            field="values",
        )
    if not values:
        raise InvalidSecretError("Give at least one KEY=value pair.", secret=secret, field="values")
    out: dict[str, str] = {}
    for key, value in values.items():
        k = validate_key(key, secret=secret)
        out[k] = validate_value(k, value, secret=secret)
    check_total_size(out, secret=secret)
    return out


def check_total_size(values: Mapping[str, str | None], *, secret: str | None = None) -> None:
    """Refuse secrets over ZenML's limit of 64 KiB of UTF-8 across keys and values."""
    total = sum(len(k.encode("utf-8")) + len((v or "").encode("utf-8")) for k, v in values.items())
    if total > MAX_TOTAL_BYTES:
        raise InvalidSecretError(
            f"Secret {secret!r} would hold {total} bytes of keys and values; the limit is "
            f"{MAX_TOTAL_BYTES // 1024} KiB.",
            secret=secret,
            field="values",
        )


def parse_full_uuid(text: str) -> uuid.UUID | None:
    """``text`` as a secret ID if it is a complete UUID in canonical or hex form.

    The one rule for "is this reference an ID?" used by every lookup path.
    """
    try:
        parsed = uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed if text.lower() in (str(parsed), parsed.hex) else None


def validate_ref(ref: Any) -> str:
    """Check a secret reference (exact name or full ID) before any lookup."""
    if type(ref) is str:
        return _valid_ref(ref)
    return _valid_ref.__wrapped__(ref)


# A flow reads the same few secrets over and over (`get_secret(name).get(KEY)` in a
# loop): a reference checked once is not checked again. Errors are not cached.
@per_process_cache
@functools.lru_cache(maxsize=256)
def _valid_ref(ref: Any) -> str:
    if not isinstance(ref, str):
        raise InvalidSecretError(
            f"Secret name or ID must be a string, got {type(ref).__name__}.", field="name"
        )
    if not ref.strip():
        raise InvalidSecretError("Secret name or ID must not be empty.", field="name")
    if _has_control(ref):
        raise InvalidSecretError(
            "Secret name or ID contains control characters or is not valid Unicode text.",
            field="name",
        )
    return _normalized(ref, "Secret name or ID")


def validate_private(private: Any) -> bool:
    """Return ``private`` if it is a bool; a string such as ``"false"`` is refused."""
    if not isinstance(private, bool):
        raise InvalidSecretError(
            f"private= must be True or False, got {type(private).__name__}.", field="private"
        )
    return private


# Variables that change how a process starts, what it loads or where kitaru and
# ZenML keep their state: a secret holding one of these lets whoever can edit the
# secret run code as whoever runs `kitaru secrets run` with it.
START_CHANGING_KEYS = re.compile(
    r"(PATH|LD_\w*|DYLD_\w*|PYTHON\w*|BASH_ENV|ENV|SHELLOPTS|BASHOPTS|IFS|PS4|"
    r"PROMPT_COMMAND|NODE_OPTIONS|PERL5LIB|PERL5OPT|RUBYOPT|RUBYLIB|KITARU_\w*|ZENML_\w*)\Z"
)


def start_changing_keys(keys: Iterable[str]) -> list[str]:
    """The keys among ``keys`` that change how a process starts, sorted."""
    return sorted({k for k in keys if START_CHANGING_KEYS.match(k)})


def check_start_changing(keys: Iterable[str], *, force: Any, secret: str) -> list[str]:
    """Refuse storing a start-changing key unless ``force``; return those keys (to warn)."""
    if not isinstance(force, bool):
        raise InvalidSecretError(
            f"force= must be True or False, got {type(force).__name__}.", field="force"
        )
    found = start_changing_keys(keys)
    if found and not force:
        raise InvalidSecretError(
            f"Key {', '.join(found)} changes how a process starts; `kitaru secrets run` "
            "refuses it unless --allow-override names it. Store it anyway with --force "
            "(force=True).",
            secret=secret,
            field="key",
        )
    return found


def start_changing_warning(secret: str, keys: list[str]) -> str:
    """The warning printed when a start-changing key is stored on purpose."""
    return (
        f"Secret {secret!r} holds {', '.join(keys)}, which changes how a process "
        "starts; anyone who can edit this secret can change what `kitaru secrets run "
        f"--allow-override {keys[0]}` runs."
    )
