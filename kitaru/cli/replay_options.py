"""Parsing ``kitaru executions replay``'s ``--args`` and ``--output`` values."""

from __future__ import annotations

import json
from typing import Any

from kitaru.errors import KitaruValidationError


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KitaruValidationError(
            f"{what} is not valid JSON ({exc.msg} at position {exc.pos}).", field=what
        ) from None


def parse_args_json(text: str | None) -> dict[str, Any] | None:
    """``--args JSON``: a JSON object of keyword arguments (None when not given)."""
    if text is None:
        return None
    value = _json(text, "--args")
    if not isinstance(value, dict):
        raise KitaruValidationError(
            "--args must be a JSON object of the flow's keyword arguments, e.g. "
            '\'{"topic": "durability"}\'.',
            field="--args",
        )
    return value


def parse_outputs(items: tuple[str, ...]) -> dict[str, Any]:
    """``--output INVOCATION_ID=JSON`` (repeatable) as {invocation ID: value}."""
    out: dict[str, Any] = {}
    for item in items:
        invocation_id, sep, text = item.partition("=")
        if not sep or not invocation_id.strip():
            raise KitaruValidationError(
                "--output takes INVOCATION_ID=JSON, e.g. fetch_2='[1, 2]'; one value "
                "has no INVOCATION_ID= before it.",
                field="--output",
            )
        out[invocation_id.strip()] = _json(text, f"--output {invocation_id.strip()}")
    return out
