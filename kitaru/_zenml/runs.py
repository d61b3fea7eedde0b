"""Executions as ZenML pipeline runs: metadata written by kitaru, and reads back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from kitaru._zenml import (
    artifact_reads,
    run_log_store,
    run_reads,
    run_record,
    run_rest_reads,
    run_state,
)
from kitaru._zenml.client import get_client, import_zenml
from kitaru.errors import ExecutionNotFoundError
from kitaru.runtime.record import OUTPUT_CARD, CheckpointRecord

RESULT_STEP_PREFIX = run_record.RESULT_STEP_PREFIX
# The run metadata a summary reads (start record, and what decides the status).
_STATUS_KEYS = (
    run_state.START_KEY,
    run_state.RUNNER_KEY,
    run_state.HEARTBEAT_KEY,
    run_state.END_KEY,
)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def load_run(execution_id: str, *, hydrate: bool = True) -> Any:
    """ZenML's run of ``execution_id`` (a full ID), ExecutionNotFoundError if there is none."""
    try:
        run_uuid = uuid.UUID(execution_id)
    except ValueError:
        raise ExecutionNotFoundError(execution_id) from None
    try:
        return get_client().zen_store.get_run(run_uuid, hydrate=hydrate)
    except KeyError:
        raise ExecutionNotFoundError(execution_id) from None


def _read_run(execution_id: str) -> Any:
    """The run for a view: by SQL (embedded store) or REST (pinned server), else ZenML's."""
    for read in (run_reads.load_run, run_rest_reads.load_run):
        try:
            run = read(execution_id)
        except run_reads.SchemaMismatch:
            continue  # the next reader; last, ZenML's client
        if run is None:
            raise ExecutionNotFoundError(execution_id)
        return run
    return load_run(execution_id)


def _stack_name(run: Any) -> str | None:
    try:
        snapshot = run.snapshot
        return str(snapshot.stack.name) if snapshot and snapshot.stack else None
    except Exception:  # noqa: BLE001 - the stack may be gone or not readable
        return None


def _summary(run: Any) -> dict[str, Any]:
    original = None
    try:
        original = str(run.original_run.id) if run.original_run is not None else None
    except Exception:  # noqa: BLE001 - same
        original = None
    user = None
    try:
        user = run.user.name if run.user is not None else None
    except Exception:  # noqa: BLE001 - same
        user = None
    start = run_state.run_meta(run, run_state.START_KEY)
    return {
        "id": str(run.id),
        "flow": run.pipeline.name if run.pipeline is not None else start.get("flow"),
        "status": run_state.execution_status(run),
        "started": _iso(run.start_time),
        "ended": _iso(run.end_time),
        "duration_s": run_state.duration(run.start_time, run.end_time),
        "replayed_from": original or start.get("replayed_from"),
        "user": user,
        "stack": _stack_name(run),
    }


def list_runs(limit: int = 50, flow: str | None = None) -> list[dict[str, Any]]:
    """Newest runs first, as plain dicts."""
    size = max(1, min(limit, 1000))
    try:
        return [_summary(run) for run in run_reads.list_runs(size, flow, _STATUS_KEYS)]
    except run_reads.SchemaMismatch:
        pass  # a server's REST API, or ZenML's client, knows its own store
    try:
        return [_summary(run) for run in run_rest_reads.list_runs(size, flow)]
    except run_reads.SchemaMismatch:
        pass  # ZenML's client knows its own store
    kwargs: dict[str, Any] = {"sort_by": "desc:created", "size": size}
    if flow:
        kwargs["pipeline_name"] = f"equals:{flow}"
    page = get_client().list_pipeline_runs(hydrate=True, **kwargs)
    return [_summary(run) for run in page.items]


def get_run(execution_id: str) -> dict[str, Any]:
    """One run with its checkpoints and kitaru record, as a plain dict."""
    run = _read_run(execution_id)
    if (
        run_state.execution_status(run) == "crashed"
        and run_state.end_record(run).get("status") != "crashed"
    ):
        run = _read_run(execution_id)  # its dead runner was just recorded: show the record
    item = _summary(run)
    record = run_record.fold(run)
    if record.get("legacy"):
        item = {**item, **_legacy_view(run, record)}
    else:
        item["checkpoints"] = record["checkpoints"]
        item["secret_reads"] = record["secret_reads"]
        item["llm_calls"] = record["llm_calls"]
        item["error"] = record["error"]
    run_log_store.attach(run, item)
    return item


def _legacy_view(run: Any, meta: dict[str, Any]) -> dict[str, Any]:
    recorded = {c.get("id"): c for c in meta.get("checkpoints", []) if isinstance(c, dict)}
    checkpoints = []
    for invocation_id, step_run in run.steps.items():
        if invocation_id.startswith(RESULT_STEP_PREFIX):
            continue
        rec = recorded.get(invocation_id, {})
        status = run_record.status_of(step_run)
        checkpoints.append(
            {
                "id": invocation_id,
                "name": rec.get("name", invocation_id),
                "status": "completed" if status in ("completed", "cached") else status,
                "started": _iso(step_run.start_time),
                "duration_s": run_state.duration(step_run.start_time, step_run.end_time),
                "attempts": rec.get("attempts", 1),
                "reused_from": str(step_run.original_step_run_id)
                if getattr(step_run, "original_step_run_id", None)
                else None,
            }
        )
    checkpoints.sort(key=lambda c: c["started"] or "")
    return {
        "checkpoints": checkpoints,
        "secret_reads": list(meta.get("secret_reads", [])),
        "llm_calls": list(meta.get("llm_calls", [])),
        "error": meta.get("error"),
    }


def replay_info(execution_id: str) -> dict[str, Any]:
    """What a replay of ``execution_id`` needs: flow name, its record, successful calls."""
    run = load_run(execution_id)
    record = run_record.fold(run)
    successful = [
        inv
        for inv, step_run in run.steps.items()
        if run_record.status_of(step_run) in ("completed", "cached", "skipped")
    ]
    return {
        "id": str(run.id),
        "flow": run.pipeline.name if run.pipeline is not None else record.get("flow"),
        "status": run_state.execution_status(run),
        "meta": record,
        "inputs": dict(run.config.parameters or {}).get("inputs"),
        "successful": successful,
    }


def run_status(execution_id: str) -> str:
    """kitaru's status of the run (a dead runner is recorded crashed on the way)."""
    return run_state.execution_status(_read_run(execution_id))


def kitaru_record(execution_id: str) -> dict[str, Any]:
    """The execution's record folded from its steps and runner (see ``run_record``)."""
    return run_record.fold(load_run(execution_id))


def run_id_by_name(run_name: str) -> str | None:
    """The ID of the run called ``run_name`` (kitaru names each run it starts), or None."""
    try:
        run = get_client().get_pipeline_run(run_name, allow_name_prefix_match=False, hydrate=False)
    except (KeyError, ValueError):
        return None
    return str(run.id)


def flow_result(execution_id: str) -> Any:
    """The flow's result: from its record, or from the run's result step. KeyError if none."""
    import json

    run = _read_run(execution_id)
    # The end record alone: folding every step's record would load each step.
    text = run_state.end_record(run).get("result_json")
    if isinstance(text, str):
        return json.loads(text)
    names = [name for name in run.steps if name.startswith(RESULT_STEP_PREFIX)]
    try:
        fast = artifact_reads.first_outputs({n: str(run.steps[n].id) for n in names})
    except run_reads.SchemaMismatch:
        fast = None  # ZenML's client knows its own store
    if fast is not None:
        stored = [fast[n] for n in names if n in fast]
        if not stored:
            raise KeyError(execution_id)
        if stored[0] is not artifact_reads.NEEDS_ZENML:
            return stored[0]
    for name, step_run in load_run(execution_id).steps.items():
        if name.startswith(RESULT_STEP_PREFIX):
            outputs = [a for artifacts in step_run.outputs.values() for a in artifacts]
            if outputs:
                return outputs[0].load()
    raise KeyError(execution_id)


def run_parameters(execution_id: str) -> dict[str, Any]:
    """The parameters the run was started with (what travels with a flow run)."""
    run = load_run(execution_id)
    return dict(run.config.parameters or {})


def record_step(step_run_id: str, metadata: dict[str, Any]) -> None:
    """Attach kitaru's record of one checkpoint call (flat metadata cards) to its step run."""
    import_zenml()
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    get_client().create_run_metadata(
        metadata=metadata,
        resources=[
            RunMetadataResource(id=uuid.UUID(step_run_id), type=MetadataResourceTypes.STEP_RUN)
        ],
    )


def step_record(execution_id: str, invocation_id: str) -> CheckpointRecord | None:
    """kitaru's record of one step run (None if the step recorded none, e.g. it was reused)."""
    step_run = load_run(execution_id).steps.get(invocation_id)
    if step_run is None or getattr(step_run, "original_step_run_id", None):
        return None
    return CheckpointRecord.from_metadata(run_record.step_metadata(step_run))


# A failed checkpoint's step stays ``retrying`` in ZenML (a retry in place runs it again).
_STEP_SEEN = {"retrying": "failed", "cached": "completed"}


def step_states(execution_id: str) -> list[tuple[str, str, float | None]]:
    """(invocation ID, status, seconds) of each step run so far, oldest first."""
    page = get_client().list_run_steps(
        pipeline_run_id=uuid.UUID(execution_id), size=1000, sort_by="asc:created", hydrate=False
    )
    return [
        (
            str(s.name),
            _STEP_SEEN.get(run_record.status_of(s), run_record.status_of(s)),
            run_state.duration(s.start_time, s.end_time),
        )
        for s in page.items
    ]


def checkpoint_logs(execution_id: str) -> list[tuple[str, str, str]]:
    """(invocation ID, status, what it printed and logged) for each checkpoint that did."""
    out = []
    for name, step_run in _read_run(execution_id).steps.items():
        record = run_record.step_metadata(step_run).get(OUTPUT_CARD)
        if isinstance(record, dict) and isinstance(record.get("output"), str):
            status = run_record.status_of(step_run)
            out.append((str(name), status, record["output"]))
    return out
