"""Executions as ZenML pipeline runs: metadata written by kitaru, and reads back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from kitaru._zenml import run_log_store, waits
from kitaru._zenml.client import get_client
from kitaru.errors import ExecutionNotFoundError

META_KEY = "kitaru"
# Steps that persist a flow result that is not plain JSON (see pipelines.kitaru_flow).
RESULT_STEP_PREFIX = "kitaru_result_"


def record_execution(run_id: str, data: dict[str, Any]) -> None:
    """Attach kitaru's record (checkpoints, secret reads; never values) to a run."""
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    get_client().create_run_metadata(
        metadata={META_KEY: data},
        resources=[
            RunMetadataResource(id=uuid.UUID(run_id), type=MetadataResourceTypes.PIPELINE_RUN)
        ],
    )


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _kitaru_record(run: Any) -> dict[str, Any]:
    """kitaru's record attached to a run ({} for a run kitaru did not record)."""
    try:
        record = run.run_metadata.get(META_KEY)
    except Exception:  # noqa: BLE001 - metadata not hydrated / not readable
        return {}
    return dict(record) if isinstance(record, dict) else {}


def _load_run(execution_id: str) -> Any:
    try:
        run_uuid = uuid.UUID(execution_id)
    except ValueError:
        raise ExecutionNotFoundError(execution_id) from None
    try:
        return get_client().zen_store.get_run(run_uuid, hydrate=True)
    except KeyError:
        raise ExecutionNotFoundError(execution_id) from None


def _stack_name(run: Any) -> str | None:
    try:
        snapshot = run.snapshot
        return str(snapshot.stack.name) if snapshot and snapshot.stack else None
    except Exception:  # noqa: BLE001 - the stack may be gone or not readable
        return None


def _summary(run: Any) -> dict[str, Any]:
    meta = _kitaru_record(run)
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
    return {
        "id": str(run.id),
        "flow": run.pipeline.name if run.pipeline is not None else meta.get("flow"),
        "status": waits.kitaru_status(str(getattr(run.status, "value", run.status))),
        "started": _iso(run.start_time),
        "ended": _iso(run.end_time),
        "duration_s": _duration(run.start_time, run.end_time),
        "replayed_from": original or meta.get("replayed_from"),
        "user": user,
        "stack": _stack_name(run),
        "_meta": meta,
    }


def list_runs(limit: int = 50, flow: str | None = None) -> list[dict[str, Any]]:
    """Newest runs first, as plain dicts."""
    kwargs: dict[str, Any] = {"sort_by": "desc:created", "size": max(1, min(limit, 1000))}
    if flow:
        kwargs["pipeline_name"] = f"equals:{flow}"
    page = get_client().list_pipeline_runs(hydrate=True, **kwargs)
    out = []
    for run in page.items:
        item = _summary(run)
        item.pop("_meta")
        out.append(item)
    return out


def get_run(execution_id: str) -> dict[str, Any]:
    """One run with its checkpoints and kitaru record, as a plain dict."""
    run = _load_run(execution_id)
    item = _summary(run)
    meta = item.pop("_meta")
    recorded = {c.get("id"): c for c in meta.get("checkpoints", []) if isinstance(c, dict)}
    checkpoints = []

    for invocation_id, step_run in run.steps.items():
        if invocation_id.startswith(RESULT_STEP_PREFIX):
            continue  # the flow's result, not a checkpoint
        rec = recorded.get(invocation_id, {})
        checkpoints.append(
            {
                "id": invocation_id,
                "name": rec.get("name", invocation_id),
                "status": str(getattr(step_run.status, "value", step_run.status)),
                "started": _iso(step_run.start_time),
                "duration_s": _duration(step_run.start_time, step_run.end_time),
                "attempts": rec.get("attempts", 1),
                "reused_from": str(step_run.original_step_run_id)
                if getattr(step_run, "original_step_run_id", None)
                else None,
                "metadata": run_log_store.logged(step_run),
            }
        )
    checkpoints.sort(key=lambda c: c["started"] or "")
    item["checkpoints"] = checkpoints
    item["secret_reads"] = list(meta.get("secret_reads", []))
    item["error"] = meta.get("error")
    item["metadata"] = run_log_store.logged(run)
    return item


_SUCCESS = {"completed", "cached", "skipped"}


def replay_info(execution_id: str) -> dict[str, Any]:
    """What a replay of ``execution_id`` needs: flow name, kitaru record, successful calls."""
    run = _load_run(execution_id)
    meta = _kitaru_record(run)
    successful = [
        inv
        for inv, step_run in run.steps.items()
        if str(getattr(step_run.status, "value", step_run.status)) in _SUCCESS
    ]
    return {
        "id": str(run.id),
        "flow": run.pipeline.name if run.pipeline is not None else meta.get("flow"),
        "status": str(getattr(run.status, "value", run.status)),
        "meta": meta,
        "successful": successful,
    }


def run_status(execution_id: str) -> str:
    """The run's status as a plain string (one light request)."""
    try:
        run_uuid = uuid.UUID(execution_id)
    except ValueError:
        raise ExecutionNotFoundError(execution_id) from None
    try:
        run = get_client().zen_store.get_run(run_uuid, hydrate=False)
    except KeyError:
        raise ExecutionNotFoundError(execution_id) from None
    return waits.kitaru_status(str(getattr(run.status, "value", run.status)))


def kitaru_record(execution_id: str) -> dict[str, Any]:
    """kitaru's record attached to the run ({} until the flow body has ended)."""
    return _kitaru_record(_load_run(execution_id))


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

    run = _load_run(execution_id)
    text = _kitaru_record(run).get("result_json")
    if isinstance(text, str):
        return json.loads(text)
    for name, step_run in run.steps.items():
        if name.startswith(RESULT_STEP_PREFIX):
            outputs = [a for artifacts in step_run.outputs.values() for a in artifacts]
            if outputs:
                return outputs[0].load()
    raise KeyError(execution_id)


def run_parameters(execution_id: str) -> dict[str, Any]:
    """The parameters the run was started with (what travels with a flow run)."""
    run = _load_run(execution_id)
    return dict(run.config.parameters or {})


LOGS_KEY = "kitaru_logs"


def record_step(step_run_id: str, data: dict[str, Any], key: str = META_KEY) -> None:
    """Attach kitaru's record of one checkpoint call (or its output) to its step run."""
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    get_client().create_run_metadata(
        metadata={key: data},
        resources=[
            RunMetadataResource(id=uuid.UUID(step_run_id), type=MetadataResourceTypes.STEP_RUN)
        ],
    )


def step_record(execution_id: str, invocation_id: str) -> dict[str, Any]:
    """kitaru's record of one step run ({} if the step recorded none, e.g. it was reused)."""
    step_run = _load_run(execution_id).steps.get(invocation_id)
    if step_run is None or getattr(step_run, "original_step_run_id", None):
        return {}
    record = step_run.run_metadata.get(META_KEY)
    return dict(record) if isinstance(record, dict) else {}


def step_states(execution_id: str) -> list[tuple[str, str, float | None]]:
    """(invocation ID, status, seconds) of each step run so far, oldest first."""
    page = get_client().list_run_steps(
        pipeline_run_id=uuid.UUID(execution_id), size=1000, sort_by="asc:created", hydrate=False
    )
    return [
        (
            str(s.name),
            str(getattr(s.status, "value", s.status)),
            _duration(s.start_time, s.end_time),
        )
        for s in page.items
    ]


def checkpoint_logs(execution_id: str) -> list[tuple[str, str, str]]:
    """(invocation ID, status, what it printed and logged) for each checkpoint that did."""
    out = []
    for name, step_run in _load_run(execution_id).steps.items():
        record = step_run.run_metadata.get(LOGS_KEY)
        if isinstance(record, dict) and isinstance(record.get("output"), str):
            status = str(getattr(step_run.status, "value", step_run.status))
            out.append((str(name), status, record["output"]))
    return out
