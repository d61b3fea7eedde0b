"""An execution's record, folded from what its steps and its runner wrote.

Each checkpoint call wrote its own typed record on its step
(:class:`~kitaru.runtime.record.CheckpointRecord`); the runner wrote the start
and end records on the run (``run_state``). This module reads them back as one
plain-JSON view for replay, retry, the handle and ``kitaru executions``.
Executions recorded before per-step records (one ``kitaru`` blob written when
the flow ended) are read from that blob; they can be replayed, not retried.
"""

from __future__ import annotations

from typing import Any

from kitaru._zenml import run_state
from kitaru.runtime.reads import SecretRead
from kitaru.runtime.record import RECORD_VERSION, CheckpointRecord
from kitaru.runtime.replay import RetryPlan

# Steps that persist a flow result that is not plain JSON (see pipelines.kitaru_flow).
RESULT_STEP_PREFIX = "kitaru_result_"
_SUCCESS = {"completed", "cached", "skipped"}


def status_of(step_run: Any) -> str:
    """A ZenML status as a plain string."""
    return str(getattr(step_run.status, "value", step_run.status))


def step_metadata(step_run: Any) -> dict[str, Any]:
    try:
        return dict(step_run.run_metadata or {})
    except Exception:  # noqa: BLE001 - metadata not hydrated / not readable
        return {}


def is_legacy(run: Any) -> bool:
    """True for an execution recorded before per-step records (replay only, no retry)."""
    start = run_state.run_meta(run, run_state.START_KEY)
    return bool(start) and start.get("version") != RECORD_VERSION


def checkpoint_steps(run: Any) -> list[tuple[str, Any, CheckpointRecord | None]]:
    """(invocation ID, step run, its record) for each checkpoint step, oldest first."""
    out = []
    for invocation_id, step_run in run.steps.items():
        if invocation_id.startswith(RESULT_STEP_PREFIX):
            continue
        out.append(
            (invocation_id, step_run, CheckpointRecord.from_metadata(step_metadata(step_run)))
        )
    out.sort(key=lambda item: str(getattr(item[1], "start_time", "") or ""))
    return out


def retry_plan(run: Any) -> RetryPlan:
    """What a continuation of ``run`` may reuse: its completed calls, and every call made."""
    plan = RetryPlan(str(run.id))
    for invocation_id, step_run, record in checkpoint_steps(run):
        plan.known.add(invocation_id)
        if status_of(step_run) in _SUCCESS:
            plan.completed[invocation_id] = (
                record.name if record else None,
                record.args_hash if record else None,
            )
    return plan


def _step_view(
    invocation_id: str, step_run: Any, record: CheckpointRecord | None
) -> dict[str, Any]:
    zen = status_of(step_run)
    if zen in _SUCCESS:
        # A call a replay reused from its original is ``skipped`` (ZenML's word).
        status = "skipped" if zen == "skipped" else "completed"
    elif record is not None and record.status == "failed":
        status = "failed"
    elif zen in ("running", "provisioning", "queued"):
        status = "running"
    elif zen == "retried":
        status = "retried"
    else:
        status = "failed" if zen in ("failed", "retrying", "stopped", "cancelled") else zen
    original = getattr(step_run, "original_step_run_id", None)
    view: dict[str, Any] = {
        "id": invocation_id,
        "name": record.name if record else invocation_id,
        "status": status,
        "started": step_run.start_time.isoformat() if step_run.start_time else None,
        "duration_s": run_state.duration(step_run.start_time, step_run.end_time),
        # Each continuation after a crash is a new version of the step: an attempt too.
        "attempts": (record.attempts if record else 1)
        + max(0, int(getattr(step_run, "version", 1) or 1) - 1),
        "args_hash": record.args_hash if record else None,
        "errors": list(record.errors) if record else [],
        "error": record.error if record else None,
        "reused_from": str(original) if original else None,
    }
    return view


def _continuations(step_run: Any) -> int:
    # Each continuation after a crash is a new version of the step: an attempt too.
    return max(0, int(getattr(step_run, "version", 1) or 1) - 1)


def fold(run: Any) -> dict[str, Any]:
    """The execution's whole record as plain JSON (checkpoints, reads, LLM calls, end)."""
    start = run_state.run_meta(run, run_state.START_KEY)
    if start and start.get("version") != RECORD_VERSION:
        return {**start, "legacy": True}
    end = run_state.end_record(run)
    checkpoints: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for invocation_id, step_run, record in checkpoint_steps(run):
        checkpoints.append(_step_view(invocation_id, step_run, record))
        if record is None:
            continue
        reads.extend(SecretRead.from_record(r, record.name).to_json() for r in record.secret_reads)
        calls.extend(record.llm_calls)
    reads.extend(r for r in end.get("body_reads") or [] if isinstance(r, dict))
    reads.sort(key=lambda r: float(r.get("at") or 0.0))
    calls.extend(c for c in end.get("body_llm_calls") or [] if isinstance(c, dict))
    error = end.get("error") or end.get("reason")
    failed = end.get("failed_checkpoint")
    if error is None and end.get("status") != "completed":
        for view in checkpoints:
            if view["status"] == "failed" and view["error"]:
                error, failed = view["error"], view["id"]
    return {
        "flow": start.get("flow"),
        "replayed_from": start.get("replayed_from"),
        "checkpoints": checkpoints,
        "secret_reads": reads,
        "llm_calls": calls,
        "error": error,
        "failed_checkpoint": failed,
        "result_json": end.get("result_json"),
        "reused": [c["id"] for c in checkpoints if c.get("reused_from")],
        "legacy": False,
    }
