"""Checking that a value is plain JSON before kitaru stores it as metadata or input."""

from __future__ import annotations

import math
from typing import Any


def json_problem(value: Any, path: str) -> str | None:
    """Where ``value`` stops being plain JSON (a message), or None if it is plain JSON."""
    if value is None or type(value) in (str, int, bool):
        return None
    if type(value) is float:
        return None if math.isfinite(value) else f"{path} is {value!r}, which JSON cannot hold"
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            problem = json_problem(item, f"{path}[{i}]")
            if problem is not None:
                return problem
        return None
    if type(value) is dict:
        for k, item in value.items():
            if type(k) is not str:
                return f"{path} has a key of type {type(k).__name__}; JSON keys are strings"
            problem = json_problem(item, f"{path}[{k!r}]")
            if problem is not None:
                return problem
        return None
    return f"{path} is a {type(value).__name__}, not a JSON value"
