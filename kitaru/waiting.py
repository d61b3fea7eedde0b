"""``kitaru.wait()``: a flow stops until a person gives it input.

On a terminal (stdin and stderr both TTYs) kitaru asks there and the flow
continues in the same process. Elsewhere the execution becomes ``waiting``: the
process polls for an answer up to ``timeout`` seconds, then releases (the flow
body stops; completed checkpoints stay stored), and ``kitaru executions
resume`` continues the same execution once the wait is answered. Either way the
wait and its answer are kept on the run (a ZenML wait condition), so a
continued body gets the recorded answer back.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from kitaru._run.json_values import json_problem
from kitaru.errors import (
    KitaruContextError,
    KitaruValidationError,
    SecretLeakError,
    WaitAbortedError,
)
from kitaru.runtime import ExecutionScope, current_checkpoint_or_none, current_execution_or_none

__all__ = ["wait"]

ABORT_WORD = "!abort"
# Per execution body: how many unnamed waits it has made (``wait``, ``wait_2``, ...).
# A continued execution runs its body again in a new scope, so it counts afresh
# and its waits get the same names as the first time.
_counts: ContextVar[tuple[ExecutionScope, dict[str, int]] | None] = ContextVar(
    "kitaru_wait_counts", default=None
)


def _next_name(scope: ExecutionScope, base: str) -> str:
    held = _counts.get()
    if held is None or held[0] is not scope:
        held = (scope, {})
        _counts.set(held)
    n = held[1].get(base, 0) + 1
    held[1][base] = n
    return base if n == 1 else f"{base}_{n}"


def _check_options(name: Any, question: Any, timeout: Any, metadata: Any) -> None:
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 100):
        raise KitaruValidationError(
            f"kitaru.wait(): name must be a non-empty string of up to 100 characters, "
            f"got {name!r}.",
            field="name",
        )
    if question is not None and not isinstance(question, str):
        raise KitaruValidationError(
            f"kitaru.wait(): question must be a string, got {type(question).__name__}.",
            field="question",
        )
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout < 0
    ):
        raise KitaruValidationError(
            f"kitaru.wait(): timeout must be a number of seconds >= 0, got {timeout!r}.",
            field="timeout",
        )
    if metadata is not None:
        problem = (
            json_problem(metadata, "metadata")
            if isinstance(metadata, dict)
            else "metadata is not a dict"
        )
        if problem is None and any(str(k).startswith("kitaru_") for k in metadata):
            problem = "metadata keys starting with 'kitaru_' are kitaru's own"
        if problem is not None:
            raise KitaruValidationError(
                f"kitaru.wait(): {problem}; metadata is a dict of JSON values.",
                field="metadata",
            )


def _terminal() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def _terminal_prompt(
    execution_id: str, name: str, question: str | None, adapter: Any, json_schema: Any
) -> Callable[[], Any]:
    """Ask on stderr, read stdin; return the answer as JSON (re-ask while it is invalid)."""
    from pydantic import ValidationError

    from kitaru._zenml.waits import ABORT_RESULT

    def ask() -> Any:
        err = sys.stderr
        err.write(f"\nExecution {execution_id} waits for input ({name}).\n")
        if question:
            err.write(f"{question}\n")
        if adapter is None:
            err.write(f"Press Enter to continue, or type {ABORT_WORD} to abort.\n")
        else:
            err.write(f"Expected (JSON Schema): {json.dumps(json_schema)}\n")
            err.write(f"Type a JSON value (text may be typed bare), or {ABORT_WORD} to abort.\n")
        while True:
            err.write("> ")
            err.flush()
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            text = line.strip()
            if text == ABORT_WORD:
                return ABORT_RESULT
            if adapter is None:
                if not text:
                    return None
                err.write(f"Press Enter to continue, or type {ABORT_WORD} to abort.\n")
                continue
            candidates: list[Any] = []
            with contextlib.suppress(ValueError):
                candidates.append(json.loads(text))
            candidates.append(text)
            problem = ""
            for raw in candidates:
                try:
                    return adapter.dump_python(adapter.validate_python(raw), mode="json")
                except ValidationError as exc:
                    problem = problem or exc.errors()[0].get("msg", "invalid")
            err.write(f"Invalid input ({problem}); try again.\n")

    return ask


def wait(
    *,
    schema: Any = None,
    name: str | None = None,
    question: str | None = None,
    timeout: float = 600,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Stop the flow until a person gives input; return it, validated against ``schema``.

    ``schema`` is any type pydantic's ``TypeAdapter`` takes (``bool``, ``str``,
    ``int``, a model, a ``Literal``); ``None`` makes the wait a continue/abort
    gate that returns ``None``. ``name`` defaults to ``wait``, ``wait_2``, ... in
    the order of the flow's waits. Call it from the flow body, not a checkpoint.

    On a terminal the question is asked on stderr and the flow continues here.
    Otherwise the execution is ``waiting``: this process polls for an answer
    (``kitaru executions input ID --value JSON``) up to ``timeout`` seconds,
    then releases the flow; ``kitaru executions resume ID`` continues it.

    Raises:
        KitaruContextError: called outside a flow or inside a checkpoint.
        KitaruValidationError: an option is invalid, or ``schema`` is not a type
            pydantic can validate.
        SecretLeakError: ``question``, ``metadata`` or the answer holds a value
            of a secret read in this execution.
        WaitAbortedError: the wait was aborted (``kitaru executions input ID --abort``).
    """
    scope = current_execution_or_none()
    if scope is None:
        raise KitaruContextError(
            "kitaru.wait() was called outside a flow: call it from the body of a @flow function."
        )
    cp = current_checkpoint_or_none()
    if cp is not None:
        raise KitaruContextError(
            f"kitaru.wait() was called inside checkpoint {cp.name!r}; a checkpoint cannot "
            "wait. Move the wait() to the flow body, between checkpoints."
        )
    _check_options(name, question, timeout, metadata)
    match = scope.redactor.find_in_object((question, metadata))
    if match is not None:
        raise SecretLeakError(
            where="The question or metadata of kitaru.wait()", secret=match.secret, key=match.key
        )
    adapter, json_schema = None, None
    if schema is not None:
        from pydantic import TypeAdapter

        try:
            adapter = TypeAdapter(schema)
            json_schema = adapter.json_schema()
        except Exception as exc:  # noqa: BLE001 - pydantic raises several kinds here
            raise KitaruValidationError(
                f"kitaru.wait(): schema {schema!r} is not a type pydantic can validate as "
                f"JSON ({type(exc).__name__}).",
                field="schema",
            ) from None
    wait_name = name.strip() if name is not None else _next_name(scope, "wait")
    from kitaru._zenml import waits

    kept = dict(metadata or {})
    if json_schema is not None:
        kept[waits.SCHEMA_KEY] = json_schema
    kept[waits.SECRETS_KEY] = sorted({r.secret for r in scope.reads})
    ask: Callable[[], Any] | None = None
    plan = scope.replay
    if plan is not None and (plan.cut is None or plan.cut not in scope.checkpoints):
        # A replay reuses the original's answer as it reuses checkpoint outputs: only
        # before its cut (the cut call not made yet), or everywhere without one.
        found, recorded = waits.recorded_result(plan.original_id, wait_name)
        if found:
            ask = lambda: recorded  # noqa: E731 - the answer, handed over as is
    if ask is None and _terminal():
        ask = _terminal_prompt(scope.execution_id, wait_name, question, adapter, json_schema)
    value = waits.wait_in_run(wait_name, schema, question, kept, math.ceil(timeout), ask)
    if isinstance(value, waits.WaitAbort):
        raise WaitAbortedError(execution_id=scope.execution_id, wait=wait_name)
    match = scope.redactor.find_in_object(value)
    if match is not None:
        raise SecretLeakError(
            where=f"Input to wait {wait_name!r}", secret=match.secret, key=match.key
        )
    return value
