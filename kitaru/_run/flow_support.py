"""What a flow run needs around its body: checked inputs, its record, replay plans.

Used by ``kitaru.flow`` on both sides of a run: where it is started (inputs, the
model registry snapshot, the import-time check) and where its body runs (the
execution record, the replay plan).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, cast

from kitaru.errors import (
    ExecutionCancelledError,
    ImportTimeFlowStartError,
    KitaruError,
    KitaruValidationError,
    ReplayError,
)
from kitaru.runtime import ExecutionScope, find_resolved_value
from kitaru.runtime.import_guard import importing_module
from kitaru.runtime.interrupts import is_interrupt
from kitaru.runtime.replay import ReplayPlan


def end_record(
    scope: ExecutionScope,
    error: BaseException | None,
    started: float,
    result_json: str | None,
) -> dict[str, Any]:
    """How this attempt of the flow body ended, for the run's ``kitaru_end`` record.

    Checkpoint calls carry their own records; this adds what only the flow body
    knows: its own secret reads, its result (plain JSON) or its redacted error.
    """
    data: dict[str, Any] = {
        "status": "completed",
        "body_reads": [r.to_json() for r in scope.reads if r.checkpoint is None],
        "body_llm_calls": [e for e in scope.events if e.get("checkpoint") is None],
        "result_json": result_json,
        "duration_s": round(time.time() - started, 3),
    }
    from kitaru._zenml import waits

    if error is not None and waits.is_release(error):
        data["status"] = "waiting"  # stopped at a wait, to be resumed: not an error
    elif error is not None:
        cancelled = is_interrupt(error) or isinstance(error, ExecutionCancelledError)
        data["status"] = "cancelled" if cancelled else "failed"
        text = (
            "Interrupted (Ctrl-C)." if is_interrupt(error) else f"{type(error).__name__}: {error}"
        )
        data["error"] = scope.redactor.redact(text)[:2000]
        failed = [
            c["id"]
            for c in scope.checkpoints.values()
            if 0 < int(c.get("attempts", 0)) <= len(c.get("errors", []))
        ]
        data["failed_checkpoint"] = failed[-1] if failed else None
    return data


def plan_replay(flow_name: str, replay: dict[str, Any]) -> ReplayPlan:
    """The plan of a replay of ``replay["of"]``: what is reused, up to which cut, and how.

    ``replay`` is what travels with the run: the original execution (``of``),
    the cut (``from``: the first invocation ID to run live) and replaced
    outputs (``outputs``: invocation ID -> JSON value).

    Raises:
        ReplayError: the original belongs to another flow or is still going.
        KitaruValidationError: the cut or a replaced output names no call of it.
    """
    from kitaru._zenml import runs

    execution_id = str(replay["of"])
    info = runs.replay_info(execution_id)
    if info["flow"] != flow_name:
        raise ReplayError(
            f"Execution {execution_id} belongs to flow {info['flow']!r}, not {flow_name!r}.",
            execution_id=execution_id,
        )
    if info["status"] in ("running", "waiting"):
        raise ReplayError(
            f"Execution {execution_id} is still {info['status']}; replay it once it has ended.",
            execution_id=execution_id,
        )
    calls = [c for c in info["meta"].get("checkpoints", []) if isinstance(c, dict) and "id" in c]
    order = [str(c["id"]) for c in calls]
    cut = replay.get("from")
    if cut is not None and cut not in order:
        raise KitaruValidationError(
            f"Execution {execution_id} has no checkpoint call {cut!r}; its calls are: "
            f"{', '.join(order) or '(none)'}.",
            field="from",
        )
    before = order[: order.index(cut)] if cut is not None else order
    reusable = {i for i in before if i in set(info["successful"])}
    outputs = dict(replay.get("outputs") or {})
    for invocation_id in outputs:
        if invocation_id not in reusable:
            raise KitaruValidationError(
                f"--output {invocation_id}: execution {execution_id} has no completed call "
                f"{invocation_id!r} before the cut; outputs can be replaced for: "
                f"{', '.join(sorted(reusable)) or '(none)'}.",
                field="outputs",
            )
    return ReplayPlan(
        execution_id,
        recorded={str(c["id"]): c for c in calls},
        reusable=reusable,
        known=set(order),
        cut=cut,
        outputs=outputs,
    )


def replay_inputs(execution_id: str) -> dict[str, Any] | None:
    """The arguments the original execution ran with (None if it did not keep them)."""
    from kitaru._zenml import runs

    stored = runs.run_parameters(execution_id).get("inputs")
    return stored if isinstance(stored, dict) else None


def check_overrides(outputs: dict[str, Any]) -> dict[str, Any]:
    """Replaced outputs as plain JSON, refused if not JSON or holding a secret value."""
    try:
        text = json.dumps(outputs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise KitaruValidationError(
            f"A replaced output must be a JSON value: {exc}.", field="outputs"
        ) from None
    match = find_resolved_value(outputs)
    if match is not None:
        raise KitaruValidationError(
            f"A replaced output holds a value of secret {match.secret!r} read in this "
            "process; secret values are never stored with a run.",
            field="outputs",
        )
    return cast(dict[str, Any], json.loads(text))


def registry_snapshot() -> dict[str, Any] | None:
    """The model registry this execution carries (alias names and secret names only)."""
    from kitaru import models

    try:
        return models.effective_registry()
    except KitaruError:
        return None  # an unreadable registry fails the llm() call that needs it, not the flow


def check_inputs(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The flow's arguments as the JSON that travels with the run, or a clear refusal."""
    try:
        text = json.dumps({"args": list(args), "kwargs": kwargs}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise KitaruValidationError(
            f"Flow {name!r}: its arguments travel to the orchestrator as JSON, but {exc}. "
            "Pass JSON values (str, int, float, bool, None, lists, dicts with str keys), "
            "or pass a name and load the object inside the flow.",
            field="args",
        ) from None
    match = find_resolved_value((args, kwargs))
    if match is not None:
        key = f" (key {match.key!r})" if match.key else ""
        raise KitaruValidationError(
            f"Flow {name!r}: an argument holds a value of secret {match.secret!r}{key} read in "
            "this process. Secret values never travel with a run: pass the secret's name and "
            "call kitaru.get_secret() inside the flow or a checkpoint.",
            field="args",
        )
    return cast(dict[str, Any], json.loads(text))


def refuse_start_at_import_time(name: str) -> None:
    frame = importing_module(sys._getframe(2))
    if frame is not None:
        raise ImportTimeFlowStartError(
            name,
            module=str(frame.f_globals.get("__name__", "?")),
            filename=frame.f_code.co_filename,
            lineno=frame.f_lineno,
        )
