"""Running user bodies: sync or async, with secret values kept out of errors.

Shared by ``@flow`` and ``@checkpoint``. The functions that call user code are
registered as runtime boundaries for the import-time guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

from kitaru.runtime import Redactor, register_boundary


def call_body(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call a user body; run it to completion if it is a coroutine function."""
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result):
        return run_coroutine_blocking(result)
    return result


register_boundary(call_body.__code__)


def run_coroutine_blocking(coro: Any) -> Any:
    """Run ``coro`` to completion from sync code, even inside a running event loop.

    With no loop running in this thread it uses ``asyncio.run``; otherwise it runs
    the coroutine on a fresh loop in a helper thread, carrying the context along.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    ctx = contextvars.copy_context()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = ctx.run(asyncio.run, coro)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="kitaru-async-body")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def redact_exception(exc: BaseException, redactor: Redactor) -> BaseException:
    """Scrub remembered secret values out of ``exc`` (and its causes) in place.

    Returns the exception to raise: ``exc`` itself, or a ``RuntimeError`` carrying
    the redacted text when a value is still visible in ``exc``'s formatted
    traceback (a message built by ``__str__`` from attributes, a cause that
    could not be scrubbed): what a log or ZenML's step record would show.
    """
    if not redactor:
        return exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        with contextlib.suppress(AttributeError, TypeError):  # read-only ``args``
            current.args = tuple(
                redactor.redact(a) if isinstance(a, str) else a for a in current.args
            )
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [redactor.redact(n) if isinstance(n, str) else n for n in notes]
        current = current.__cause__ or current.__context__
    try:
        text = "".join(traceback.format_exception(exc))
    except Exception:  # noqa: BLE001 - a broken ``__str__`` must not hide the error
        text = ""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - same
        message = ""
    if redactor.find_in_text(text) is None and redactor.find_in_text(message) is None:
        return exc
    replacement = RuntimeError(f"{type(exc).__name__}: {redactor.redact(message)}")
    replacement.__cause__ = None
    replacement.__suppress_context__ = True
    return replacement
