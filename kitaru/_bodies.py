"""Running user bodies: sync or async, with secret values kept out of errors.

Shared by ``@flow`` and ``@checkpoint``. The functions that call user code are
registered as runtime boundaries for the import-time guard.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
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
        except BaseException as exc:
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
    the redacted text when ``exc``'s message cannot be scrubbed.
    """
    if not redactor:
        return exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            current.args = tuple(
                redactor.redact(a) if isinstance(a, str) else a for a in current.args
            )
        except Exception:
            pass
        for note_list in (getattr(current, "__notes__", None),):
            if isinstance(note_list, list):
                note_list[:] = [redactor.redact(n) if isinstance(n, str) else n for n in note_list]
        current = current.__cause__ or current.__context__
    try:
        text = str(exc)
    except Exception:
        text = type(exc).__name__
    if redactor.find_in_text(text) is not None:
        replacement = RuntimeError(f"{type(exc).__name__}: {redactor.redact(text)}")
        return replacement
    return exc
