"""Errors that say everything in their message, shown uncaught as one line.

Some errors of starting a flow (a stack that cannot run here, a full disk) are
about the machine, not the user's code: the frames of kitaru and ZenML under
them help no one. Such an error is marked when it is made; when one leaves a
flow start, kitaru wraps ``sys.excepthook`` so that, if nothing catches it, a
script prints ``kitaru.errors.BackendError: <message>`` and nothing else. Any
other exception goes to the hook that was there before. ``KITARU_DEBUG=1``
keeps the traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TypeVar

E = TypeVar("E", bound=BaseException)

_MARK = "kitaru_one_line"


def one_line(error: E) -> E:
    """Mark ``error`` as said in full by its message (see the module docstring)."""
    setattr(error, _MARK, True)
    return error


def is_one_line(error: object) -> bool:
    """True if ``error`` was marked with :func:`one_line` (or is kitaru's hook)."""
    return bool(getattr(error, _MARK, False))


Hook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


def _hook(previous: Hook) -> Hook:
    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if is_one_line(value) and not os.environ.get("KITARU_DEBUG"):
            message = " ".join(str(value).split())
            print(f"{kind.__module__}.{kind.__qualname__}: {message}", file=sys.stderr)
            return
        previous(kind, value, tb)

    setattr(hook, _MARK, True)
    return hook


@contextlib.contextmanager
def uncaught_as_one_line() -> Iterator[None]:
    """Scope whose marked errors print as one line if the script does not catch them."""
    try:
        yield
    except BaseException as exc:
        if is_one_line(exc) and not is_one_line(sys.excepthook):
            sys.excepthook = _hook(sys.excepthook)
        raise
