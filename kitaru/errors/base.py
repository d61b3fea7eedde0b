"""The roots of kitaru's exception tree, and how every error in it is pickled.

Importers use :mod:`kitaru.errors`, which re-exports these; they live apart so
that the families in other modules can subclass them without an import cycle.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KitaruContextError", "KitaruError", "KitaruValidationError"]

# Pickles and tracebacks name this module for every class of the tree, wherever
# its file lives, so a pickled error still loads after the files move.
PUBLIC_MODULE = "kitaru.errors"
_TREE_MODULES = frozenset({__name__, "kitaru.errors.execution"})


class KitaruError(Exception):
    """Base class of every error kitaru raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ in _TREE_MODULES:
            cls.__module__ = PUBLIC_MODULE

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__, whose arguments differ per class (the
        # default reduce calls it with `args`): `args` and the fields come back as is.
        return (Exception.__new__, (type(self), *self.args), self.__dict__)

    def __str__(self) -> str:
        # KeyError subclasses would otherwise print repr(message) with quotes.
        return self.message


class KitaruValidationError(KitaruError, ValueError):
    """Input that kitaru refuses before touching any store."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class KitaruContextError(KitaruError, RuntimeError):
    """Something was called where the runtime context does not allow it."""


KitaruError.__module__ = PUBLIC_MODULE
