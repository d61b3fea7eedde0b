"""Where ``kitaru.log()`` metadata lives (one dict per step run or pipeline run), read back.

ZenML reads back a metadata key written several times with dict values as
those dicts merged, newest last, so each ``log()`` call writes only what it
was given (see ``run_log_writer``) and later calls merge key by key.
"""

from __future__ import annotations

from typing import Any

LOG_KEY = "kitaru_metadata"


def logged(resource: Any) -> dict[str, Any]:
    """What ``kitaru.log()`` stored on a ZenML run or step run response ({} if nothing)."""
    try:
        value = resource.run_metadata.get(LOG_KEY)
    except Exception:  # noqa: BLE001 - metadata not hydrated / not readable
        return {}
    return dict(value) if isinstance(value, dict) else {}


def attach(run: Any, item: dict[str, Any]) -> None:
    """Add the logged metadata of ``run`` and of each of its checkpoints to its view ``item``."""
    item["metadata"] = logged(run)
    steps = run.steps
    for checkpoint in item.get("checkpoints", []):
        step_run = steps.get(checkpoint.get("id"))
        checkpoint["metadata"] = logged(step_run) if step_run is not None else {}
