"""Listing executions on a ZenML server over its REST API, without ZenML's client.

On a server of the pinned version (:class:`~kitaru._zenml.rest_backend.RestServerBackend`
speaks it), ``kitaru executions list`` asks ``GET /api/v1/runs`` (hydrated,
newest first, ``pipeline_name=equals:`` for ``--flow``) as ZenML's client does,
and turns each run into the same plain object ``run_reads`` makes from the
embedded store's rows, so the same readers (``run_state``, ``runs``) build the
view. The server resolves run metadata itself. A run's orchestrator flavor (the
crash check of a run its caller never started) is read from its stack, once per
stack, only for runs that need it. Anything else returns None and the caller asks
ZenML's client.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from kitaru._zenml import run_state
from kitaru._zenml.connection import server_url


def _time(stamp: Any) -> datetime | None:
    return datetime.fromisoformat(str(stamp)) if stamp else None


def _named(resource: Any) -> SimpleNamespace | None:
    return SimpleNamespace(name=resource.get("name")) if isinstance(resource, dict) else None


def _orchestrators(rest: Any, stack_id: str) -> list[SimpleNamespace]:
    stack = rest.get_json(f"/stacks/{stack_id}", "read", {"hydrate": "true"})
    listed = ((stack.get("metadata") or {}).get("components") or {}).get("orchestrator") or []
    return [SimpleNamespace(flavor_name=(c.get("body") or {}).get("flavor_name")) for c in listed]


def _run(item: dict[str, Any], rest: Any, flavors: dict[str, list[SimpleNamespace]]) -> Any:
    body, meta, res = item["body"], item["metadata"], item["resources"]
    run_metadata = dict(meta.get("run_metadata") or {})
    stack = res.get("stack")
    snapshot_stack = None
    if isinstance(stack, dict):
        components: dict[str, list[SimpleNamespace]] = {}
        # Only a run without a runner record may need its orchestrator.
        if run_state.RUNNER_KEY not in run_metadata:
            if stack["id"] not in flavors:
                flavors[stack["id"]] = _orchestrators(rest, str(stack["id"]))
            components["orchestrator"] = flavors[stack["id"]]
        snapshot_stack = SimpleNamespace(name=stack.get("name"), components=components)
    original = res.get("original_run")
    return SimpleNamespace(
        id=str(item["id"]),
        status=body["status"],
        start_time=_time(meta.get("start_time")),
        end_time=_time(meta.get("end_time")),
        original_run=SimpleNamespace(id=str(original["id"])) if original else None,
        pipeline=_named(res.get("pipeline")),
        user=_named(res.get("user")),
        snapshot=SimpleNamespace(stack=snapshot_stack),
        created=_time(body.get("created")),
        run_metadata=run_metadata,
    )


def list_runs(limit: int, flow: str | None) -> list[Any] | None:
    """The newest ``limit`` runs (of ``flow``) from the server; None where ZenML must read."""
    if not server_url():
        return None
    from kitaru._zenml.rest_backend import RestServerBackend
    from kitaru._zenml.secret_store import backend

    rest = backend()
    if not isinstance(rest, RestServerBackend):
        return None  # a server of another version: ZenML's client speaks it
    params: dict[str, Any] = {"hydrate": "true", "size": limit, "sort_by": "desc:created"}
    if flow:
        params["pipeline_name"] = f"equals:{flow}"
    data = rest.get_json("/runs", "read", params)
    flavors: dict[str, list[SimpleNamespace]] = {}
    try:
        return [_run(item, rest, flavors) for item in data["items"]]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not the answer these reads were verified against
