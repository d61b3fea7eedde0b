"""Whether a value is kept inline: the one rule, for run results and output views.

A value is kept inline (as JSON text next to the data that names it, instead of
only as a stored artifact) when it is made of JSON's own types and its JSON text
is at most :data:`MAX_INLINE_BYTES`. Two places keep such a copy:

- a flow's result, in the execution's record (no extra step): anything else is
  persisted as an artifact. The caller must get back exactly what the flow
  returned, so a tuple (which JSON reads back as a list) is not kept there;
- a checkpoint output, as its view on ZenML's dashboard (``_zenml.output_views``):
  a view only shows the value, so a tuple is shown as the list it reads as.

One limit for both: each copy is read whole (the record with every read of the
execution, a view by the browser), so neither may grow with the payload. This
module imports nothing heavy, so it is safe to use at import time.
"""

from __future__ import annotations

import json
from typing import Any

MAX_INLINE_BYTES = 64 * 1024


def inline_json(value: Any, *, tuples: bool = False) -> str | None:
    """``value`` as JSON text if it is kept inline (see the module docstring), else None.

    ``tuples`` lets tuples count as JSON lists (for a view; never for a result).
    The text is ASCII (non-ASCII characters escaped), so its length is its size.
    """
    sequences: tuple[type, ...] = (list, tuple) if tuples else (list,)

    def plain(v: Any) -> bool:
        if v is None or type(v) in (str, int, float, bool):
            return not (type(v) is float and v != v)  # NaN is not JSON
        if type(v) in sequences:
            return all(plain(x) for x in v)
        if type(v) is dict:
            return all(type(k) is str and plain(x) for k, x in v.items())
        return False

    try:
        if not plain(value):
            return None
        text = json.dumps(value, allow_nan=False)
    except (RecursionError, ValueError):
        return None
    return text if len(text) <= MAX_INLINE_BYTES else None
