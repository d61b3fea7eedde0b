"""A one-line summary of a value, built without materialising the value's full ``repr``.

``repr`` of a 50 MB output is a 50 MB string (and collapsing its whitespace makes
more), only to be cut to 120 characters. The summary here is built by
:class:`reprlib.Repr` with every size bounded: long strings and bytes are cut
before they are rendered, containers show their first items, and pydantic models
and dataclasses show their fields through the same bounded rendering. Objects of
other types use their own ``repr`` (numpy arrays and data frames bound theirs).
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any

SUMMARY_CHARS = 120


class _Bounded(reprlib.Repr):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxstring = limit
        self.maxother = limit
        self.maxlong = limit
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = 8
        self.maxfrozenset = self.maxdeque = self.maxarray = 8

    # Strings and bytes show their beginning (the summary cuts what is too long);
    # only one more character than fits is ever rendered.
    def repr_str(self, x: str, level: int) -> str:
        return repr(x[: self.maxstring + 1])

    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x[: self.maxstring + 1])

    def repr_bytearray(self, x: bytearray, level: int) -> str:
        return f"bytearray({x[: self.maxstring + 1]!r})"

    def repr_instance(self, x: Any, level: int) -> str:
        fields = _fields(x)
        if fields is None:
            return reprlib.Repr.repr_instance(self, x, level)
        if level <= 0:
            return f"{type(x).__name__}(...)"
        shown = [f"{k}={self.repr1(v, level - 1)}" for k, v in fields[: self.maxdict]]
        more = ", ..." if len(fields) > self.maxdict else ""
        return f"{type(x).__name__}({', '.join(shown)}{more})"


def _fields(x: Any) -> list[tuple[str, Any]] | None:
    """The fields of a pydantic model or dataclass instance, else None."""
    model_fields = getattr(type(x), "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(x, "model_dump"):
        return [(name, getattr(x, name, None)) for name in model_fields]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return [(f.name, getattr(x, f.name, None)) for f in dataclasses.fields(x)]
    return None


def summarise(value: Any, limit: int = SUMMARY_CHARS) -> str:
    """``value`` as one line of at most ``limit`` characters (whitespace collapsed)."""
    text = _Bounded(limit).repr(value)
    text = " ".join(text[: limit * 4].split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
