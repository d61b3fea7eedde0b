"""``kitaru.log(**metadata)`` and ``kitaru.current_execution_id()``.

``log`` attaches JSON metadata to the checkpoint call that is running (its
ZenML step run) or, from the flow body, to the execution (its ZenML run);
later calls merge into earlier ones, key by key. The values pass the same leak
guard as checkpoint outputs before anything is stored.
"""

from __future__ import annotations

import json
from typing import Any

from kitaru._run.json_values import json_problem
from kitaru.errors import KitaruContextError, KitaruValidationError, SecretLeakError
from kitaru.runtime import current_checkpoint_or_none, current_execution_or_none

__all__ = ["current_execution_id", "log"]


def current_execution_id() -> str | None:
    """The running execution's ID inside a flow or checkpoint; None outside any flow."""
    scope = current_execution_or_none()
    return scope.execution_id if scope is not None else None


def log(**metadata: Any) -> None:
    """Attach ``metadata`` (JSON values) to the running checkpoint call, or to the execution.

    Called in a checkpoint body, the metadata goes on that call; called in the
    flow body, on the execution. Later calls merge into earlier ones (a key
    given again takes the new value). ``kitaru executions show`` prints it.

    Raises:
        KitaruContextError: called outside a flow.
        KitaruValidationError: a value is not JSON (str, int, float, bool, None,
            lists and dicts with string keys); nothing is stored.
        SecretLeakError: a value holds a secret value read in this process;
            nothing is stored.
    """
    scope = current_execution_or_none()
    if scope is None:
        raise KitaruContextError(
            "kitaru.log() was called outside a flow: call it from a @flow or @checkpoint body."
        )
    for key, value in metadata.items():
        problem = json_problem(value, key)
        if problem is not None:
            raise KitaruValidationError(
                f"kitaru.log(): {problem}. Log JSON values (str, int, float, bool, None, "
                "lists, dicts with string keys).",
                field=key,
            )
    cp = current_checkpoint_or_none()
    where = (
        f"kitaru.log() metadata of checkpoint {cp.invocation_id!r}"
        if cp is not None
        else f"kitaru.log() metadata of flow {scope.flow_name!r}"
    )
    match = scope.redactor.find_in_object(metadata)
    if match is not None:
        raise SecretLeakError(where=where, secret=match.secret, key=match.key)
    if not metadata:
        return
    from kitaru._zenml import run_log_writer

    # JSON round trip: tuples become lists, as they will be read back.
    plain = json.loads(json.dumps(metadata, allow_nan=False))
    run_log_writer.add(scope.execution_id, cp is not None, plain)
