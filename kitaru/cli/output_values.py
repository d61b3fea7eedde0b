"""Values as the machine formats (``-o json|yaml|tsv``) give them.

- Timestamps are ISO 8601 in UTC (``2026-12-06T14:14:45.564197Z``): kitaru and
  ZenML keep naive UTC times, and records keep epoch seconds (``at``).
- A checkpoint's output (and a flow's result) is the JSON value itself when it
  has one of at most :data:`MAX_JSON_CHARS` characters, else its one-line
  summary; ``output_type`` beside it names the Python type, so a string output
  is never shown as a Python ``repr``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any

MAX_JSON_CHARS = 64 * 1024
TIME_KEYS = frozenset({"started", "ended", "updated", "created", "at"})
TIME_COLUMNS = frozenset({"Started", "Ended", "Updated", "Created", "At"})
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?\Z")


def iso_utc(value: Any) -> Any:
    """``value`` as an ISO 8601 UTC timestamp if it is a naive one or epoch seconds."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        stamp = _dt.datetime.fromtimestamp(float(value), _dt.UTC)
    elif isinstance(value, str) and _NAIVE.match(value):
        stamp = _dt.datetime.fromisoformat(value.replace(" ", "T"))
    else:
        return value
    return stamp.replace(tzinfo=None).isoformat() + "Z"


def machine_values(data: Any) -> Any:
    """``data`` with every timestamp under a time key in ISO 8601 UTC."""
    if isinstance(data, dict):
        return {k: iso_utc(v) if k in TIME_KEYS else machine_values(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [machine_values(v) for v in data]
    return data


def machine_rows(columns: list[str] | tuple[str, ...], rows: Any) -> list[list[Any]]:
    """Table rows for TSV: the cells of time columns in ISO 8601 UTC."""
    times = {i for i, c in enumerate(columns) if c in TIME_COLUMNS}
    return [[iso_utc(cell) if i in times else cell for i, cell in enumerate(row)] for row in rows]


def json_value(value: Any, summary: str | None) -> tuple[Any, str]:
    """``(value as JSON, type name)``, or ``(summary, type name)`` if it has no small JSON form."""
    kind = type(value).__name__
    if isinstance(value, (str, bytes)) and len(value) > MAX_JSON_CHARS:
        return summary, kind
    encoder = json.JSONEncoder(allow_nan=False)
    size = 0
    parts: list[str] = []
    try:
        for chunk in encoder.iterencode(value):
            size += len(chunk)
            if size > MAX_JSON_CHARS:
                return summary, kind
            parts.append(chunk)
    except (TypeError, ValueError):
        return summary, kind
    return json.loads("".join(parts)), kind


def execution_json(execution: Any) -> dict[str, Any]:
    """``executions show -o json``: the execution, with outputs as JSON values."""
    from kitaru._zenml import runs
    from kitaru._zenml.run_lookup import UNREADABLE, checkpoint_outputs

    data: dict[str, Any] = execution.model_dump(mode="json")
    loaded = checkpoint_outputs(execution.id, runs.RESULT_STEP_PREFIX)
    for checkpoint in data.get("checkpoints", []):
        value = loaded.get(checkpoint["id"], UNREADABLE)
        if checkpoint["id"] in loaded and value is not UNREADABLE:
            checkpoint["output"], checkpoint["output_type"] = json_value(
                value, checkpoint.get("output")
            )
        else:
            checkpoint["output_type"] = None
    if data.get("result") is not None:
        try:
            data["result"], data["result_type"] = json_value(
                runs.flow_result(execution.id), data["result"]
            )
        except Exception:  # noqa: BLE001 - not loadable here: the summary stays
            data["result_type"] = None
    return data
