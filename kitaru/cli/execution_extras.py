"""Lines ``kitaru executions show`` prints for what a flow logged and waited for."""

from __future__ import annotations

import json
from typing import Any

MAX_LINE = 200


def metadata_line(metadata: dict[str, Any]) -> str:
    """``kitaru.log()`` metadata as one line of JSON, cut to 200 characters."""
    text = json.dumps(metadata, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"
