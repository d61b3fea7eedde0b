"""Where a flow is found: its import path, the project root, or this process only.

An orchestrator's process imports a flow by its ZenML source path from the code
it received (ZenML's code archive of the project root). A flow that no other
process could import (defined inside a function, bound to an instance, or in a
file outside the project root) runs only on the local orchestrator, in the
caller's process, where it is found by a key instead.

This module imports zenml inside functions; callers have opened the client.
"""

from __future__ import annotations

import os
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_lock = threading.Lock()


def load_flow_object(flow: str, load: Callable[[str], Any]) -> Any:
    """The @flow at ``flow``: a local key of this process, or a ZenML source path."""
    local = local_flow(flow)
    target = local if local is not None else load(flow)
    if not callable(getattr(target, "run_in_orchestrator", None)):
        raise TypeError(f"{flow} is not a kitaru @flow (found {type(target).__name__}).")
    return target


def load_failure(exc: Exception) -> tuple[str, Exception]:
    """A flow that failed to load: the one line to record, and the exception to raise.

    A module that fails to import may quote a value this process resolved (its
    error is user text like any other), so both are redacted like a checkpoint's
    error: ``exc`` itself when it shows no value, else a ``RuntimeError`` with
    the redacted line.
    """
    from kitaru.runtime import process_redactor

    redactor = process_redactor()
    line = f"{type(exc).__name__}: {exc}"[:2000]
    shown = "".join(traceback.format_exception(exc))
    if redactor.find_in_text(line) is None and redactor.find_in_text(shown) is None:
        return line, exc
    line = redactor.redact(line)
    return line, RuntimeError(line)


# Flows that no other process can import (defined inside a function, or bound to
# an instance) run only on the local orchestrator, which runs the flow in the
# caller's process: there they are found by this key instead of an import path.
LOCAL_FLOW_PREFIX = "kitaru-local-flow:"
_local_flows: dict[str, Any] = {}


def register_local_flow(target: Any) -> str:
    """A key under which the local orchestrator finds a flow that cannot be imported."""
    key = f"{LOCAL_FLOW_PREFIX}{uuid.uuid4().hex}"
    with _lock:
        _local_flows[key] = target
    return key


def forget_local_flow(key: str) -> None:
    """Drop a key made by :func:`register_local_flow` once its run has ended."""
    with _lock:
        _local_flows.pop(key, None)


def local_flow(key: str) -> Any:
    """The flow registered under ``key`` in this process, or None."""
    if not key.startswith(LOCAL_FLOW_PREFIX):
        return None
    with _lock:
        found = _local_flows.get(key)
    if found is None:
        raise RuntimeError(
            "This flow was defined inside a function (or bound to an instance), so only "
            "the process that started it can run it; define it at module level to run it "
            "on this orchestrator."
        )
    return found


ENV_SOURCE_ROOT = "KITARU_SOURCE_ROOT"
_root_from_env: list[str] = []


def source_root() -> str:
    """The project root that ZenML ships as the code archive and imports flows from.

    ``KITARU_SOURCE_ROOT`` sets it; otherwise ZenML's rule applies (a ``zenml
    init`` repository, else the main script's folder).
    """
    from zenml.utils import source_utils

    root = os.environ.get(ENV_SOURCE_ROOT, "").strip()
    with _lock:
        if root:
            resolved = str(Path(root).expanduser().resolve())
            source_utils.set_custom_source_root(resolved)
            _root_from_env[:] = [resolved]
        elif _root_from_env:
            source_utils.set_custom_source_root(None)
            _root_from_env.clear()
    return str(source_utils.get_source_root())


def load_flow(flow: str, root: str | None) -> Any:
    """Import the @flow at ZenML source ``flow`` under project root ``root`` (for a replay)."""
    from zenml.utils import source_utils

    if root and not os.environ.get(ENV_SOURCE_ROOT):
        source_utils.set_custom_source_root(root)
    return load_flow_object(flow, source_utils.load)


@dataclass(frozen=True)
class FlowSource:
    """Where a flow is imported from, and whether the code archive carries it."""

    path: str
    shipped: bool


def resolve_flow_source(target: Any) -> FlowSource | None:
    """The ZenML source of a module-level flow, or None if it cannot be imported.

    ``shipped`` is False for a module outside the project root (importable in
    this process, but not part of the code an orchestrator receives).
    """
    from zenml.config.source import SourceType
    from zenml.utils import source_utils

    try:
        source = source_utils.resolve(target)
    except Exception:  # noqa: BLE001 - not importable: the caller decides what that means
        return None
    return FlowSource(str(source.import_path), source.type != SourceType.UNKNOWN)
