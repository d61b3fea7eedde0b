"""A flow leaves ``os.environ`` as it found it.

Running a flow sets the variables that point ZenML at kitaru's store
(``ZENML_CONFIG_PATH`` and others, see :func:`kitaru._zenml.client.zenml_environment`)
and litellm's ``LITELLM_LOCAL_MODEL_COST_MAP``. They are put back as they were
(set, changed or absent) when the last flow running in the process ends, so the
caller's later subprocesses and its own ZenML see its environment. ZenML's client,
already open, keeps working: it finds kitaru's directories whatever those
variables say (see :func:`kitaru._zenml.tuning.zenml_paths_stay_kitarus`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

# The variables kitaru, ZenML and litellm set for a run.
_PREFIXES = ("ZENML_", "LITELLM_", "AUTO_OPEN_DASHBOARD")

_lock = threading.Lock()
_running = 0
_saved: dict[str, str] = {}

F = TypeVar("F", bound=Callable[..., Any])


def _snapshot() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_PREFIXES)}


@contextlib.contextmanager
def flow_environment() -> Iterator[None]:
    """Scope of one flow run; the environment is restored when the last one ends."""
    global _running, _saved
    from kitaru._zenml.client import apply_environment

    with _lock:
        if _running == 0:
            _saved = _snapshot()
        _running += 1
        apply_environment()  # again, if an earlier flow's end put them back
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                _restore(_saved)


def _restore(saved: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith(_PREFIXES) and k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def keeping_environment(method: F) -> F:
    """Run ``method`` (a flow start) inside :func:`flow_environment`."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with flow_environment():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
