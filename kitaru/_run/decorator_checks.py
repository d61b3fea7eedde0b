"""Checks of ``@flow`` / ``@checkpoint`` options, made when the decorator is applied.

Errors name the function and the rule it broke.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from kitaru.errors import KitaruValidationError

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}\Z")


def option_error(fn: Any, message: str) -> KitaruValidationError:
    qual = getattr(fn, "__qualname__", repr(fn))
    return KitaruValidationError(f"@checkpoint on {qual!r}: {message}", field="checkpoint")


def validate_name(fn: Any, name: Any, decorator: str) -> str:
    """Check a flow/checkpoint name option; errors name the function."""
    qual = getattr(fn, "__qualname__", repr(fn))
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise KitaruValidationError(
            f"@{decorator} on {qual!r}: name must be 1-100 characters of letters, digits, "
            f"'_', '.' or '-', starting with a letter or '_'; got {name!r}.",
            field="name",
        )
    return name


def validate_function(fn: Any, decorator: str) -> None:
    """Refuse what cannot be a flow or checkpoint body."""
    if not callable(fn):
        raise KitaruValidationError(
            f"@{decorator} must decorate a function, got {type(fn).__name__}.", field=decorator
        )
    if inspect.isclass(fn):
        raise KitaruValidationError(
            f"@{decorator} on class {fn.__qualname__!r}: decorate a function or method instead.",
            field=decorator,
        )
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise KitaruValidationError(
            f"@{decorator} on {fn.__qualname__!r}: generator functions are not supported "
            "(their output cannot be persisted); return a list instead.",
            field=decorator,
        )
