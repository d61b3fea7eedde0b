"""Naming an execution's checkpoints when a command asks for one it does not have."""

from __future__ import annotations

import re

from kitaru.cli._base import fail


def matches(only: str, invocation_id: str) -> bool:
    """True if ``invocation_id`` is checkpoint ``only`` (any call of it) or that very call."""
    return re.fullmatch(rf"{re.escape(only)}(_\d+)?", invocation_id) is not None


def fail_if_unknown(execution_id: str, only: str) -> None:
    """Exit 1 naming the execution's checkpoints if none of them is ``only``."""
    from kitaru._zenml import runs

    names = [str(c["id"]) for c in runs.get_run(execution_id)["checkpoints"]]
    if any(matches(only, name) for name in names):
        return
    known = ", ".join(names) if names else "none"
    fail(f"Execution {execution_id} has no checkpoint {only!r} (its checkpoints: {known}).")
