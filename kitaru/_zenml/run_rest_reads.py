"""Reading executions from a ZenML server over its REST API, without ZenML's client.

On a server of the pinned version (:class:`~kitaru._config.store_access.RestSession`
speaks it), ``kitaru executions list`` and ``logs`` ask ``GET /api/v1/runs``
(hydrated; newest first and ``pipeline_name=equals:`` for a listing,
``id=startswith:`` for a prefix) and ``GET /api/v1/steps`` (``exclude_retried``)
as ZenML's client does, and turn the answers into the same plain objects
``run_reads`` makes from the embedded store's rows, so the same readers
(``run_state``, ``run_record``, ``runs``) build the views; ``executions show``
reads a run's waits (``GET /api/v1/run_wait_conditions``) and the outputs a local
artifact store holds (the store's flavor and path from ``GET /api/v1/components/ID``,
the files read by :mod:`~kitaru._zenml.artifact_reads`). The server resolves
run metadata itself. A run's orchestrator flavor (the crash check of a run its
caller never started) is read from its stack, once per stack, only for runs
without a runner record. Anything else raises
:class:`~kitaru._zenml.run_reads.SchemaMismatch` and the caller asks ZenML's client.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from kitaru._config.connection import server_config_dir, server_url
from kitaru._zenml import artifact_reads, run_state, wait_views
from kitaru._zenml.local_server_state import local_stores_path
from kitaru._zenml.run_reads import SchemaMismatch
from kitaru.errors import BackendError


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


def _server() -> Any:
    """The REST backend of a server of the pinned version (SchemaMismatch otherwise)."""
    if not server_url():
        raise SchemaMismatch("no server")
    from kitaru._zenml.client import server_session

    rest = server_session()
    if rest is None:
        raise SchemaMismatch("another server version")  # ZenML's client speaks it
    return rest


def _all(rest: Any, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        data = rest.get_json(path, "read", {**params, "page": page})
        items.extend(data["items"])
        if page >= int(data.get("total_pages") or 1):
            return items
        page += 1


def list_runs(limit: int, flow: str | None) -> list[Any]:
    """The newest ``limit`` runs (of ``flow``) from the server (SchemaMismatch if not served)."""
    rest = _server()
    params: dict[str, Any] = {"hydrate": "true", "size": limit, "sort_by": "desc:created"}
    if flow:
        params["pipeline_name"] = f"equals:{flow}"
    data = rest.get_json("/runs", "read", params)
    flavors: dict[str, list[SimpleNamespace]] = {}
    try:
        return [_run(item, rest, flavors) for item in data["items"]]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SchemaMismatch("an unexpected answer") from None


def load_run(execution_id: str) -> Any:
    """One run with its steps (as ZenML's ``run.steps``: retried ones left out); None if none."""
    rest = _server()
    try:
        run_id = str(uuid.UUID(execution_id))
    except ValueError:
        return None
    found = rest.get_json("/runs", "read", {"hydrate": "true", "id": run_id, "size": 1})
    try:
        if not found["items"]:
            return None
        run = _run(found["items"][0], rest, {})
        listed = _all(
            rest,
            "/steps",
            {"hydrate": "true", "pipeline_run_id": run_id, "exclude_retried": "true", "size": 1000},
        )
        run.steps = {item["name"]: _step(item) for item in listed}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SchemaMismatch("an unexpected answer") from None
    return run


def _step(item: dict[str, Any]) -> SimpleNamespace:
    body, meta = item["body"], item["metadata"]
    return SimpleNamespace(
        id=str(item["id"]),
        name=item["name"],
        status=body["status"],
        start_time=_time(body.get("start_time")),
        end_time=_time(body.get("end_time")),
        original_step_run_id=meta.get("original_step_run_id"),
        version=body.get("version"),
        run_metadata=dict(meta.get("run_metadata") or {}),
        output_versions=[
            version
            for versions in ((item.get("resources") or {}).get("outputs") or {}).values()
            for version in versions
        ],
    )


def _artifact_store(rest: Any, store_id: str) -> tuple[Any, Any]:
    """The artifact store's flavor and configuration ((None, None) if not readable here)."""
    try:
        found = rest.get_json(f"/components/{store_id}", "read", {"hydrate": "true"})
    except BackendError:
        return None, None  # ZenML's client tries, and says so if it cannot
    body, meta = found.get("body") or {}, found.get("metadata") or {}
    return body.get("flavor_name"), meta.get("configuration")


def first_outputs(run: Any, skip_prefix: str) -> dict[str, Any]:
    """Each step's output of a run from :func:`load_run`, as ``artifact_reads.first_outputs``.

    Steps whose invocation ID starts with ``skip_prefix`` are left out, steps
    without an output are absent, and an output no local artifact store here
    holds is ``artifact_reads.NEEDS_ZENML``.
    """
    rest = _server()
    url = str(server_url())
    # Where ZenML's client keeps local stores for this server (see client.zenml_environment).
    stores_dir = local_stores_path(url) or str(server_config_dir(url) / "local_stores")
    stores: dict[str, tuple[Any, Any]] = {}
    out: dict[str, Any] = {}
    try:
        for name, step in run.steps.items():
            if name.startswith(skip_prefix) or not step.output_versions:
                continue
            if len(step.output_versions) != 1:  # which one ZenML lists first is its choice
                out[name] = artifact_reads.NEEDS_ZENML
                continue
            body = step.output_versions[0]["body"]
            store_id = body.get("artifact_store_id")
            if store_id and store_id not in stores:
                stores[store_id] = _artifact_store(rest, store_id)
            out[name] = artifact_reads.read_in_store(
                body["uri"],
                json.dumps(body["materializer"]),
                json.dumps(body["data_type"]),
                (store_id, *stores.get(store_id, (None, None))),
                stores_dir,
            )
    except (KeyError, TypeError, AttributeError):
        raise SchemaMismatch("an unexpected answer") from None
    return out


def waits_of(execution_id: str) -> list[dict[str, Any]]:
    """The waits of a run, oldest first, as ``waits.waits_of`` gives them (SchemaMismatch)."""
    rest = _server()
    params = {"pipeline_run": str(uuid.UUID(execution_id)), "sort_by": "asc:created", "size": 1000}
    data = rest.get_json("/run_wait_conditions", "read", {**params, "hydrate": "true"})

    def user_name(user_id: Any) -> str:
        try:
            return str(rest.get_json(f"/users/{user_id}", "read", {})["name"])
        except (BackendError, KeyError, TypeError):  # a deleted user: keep its ID, as ZenML's
            return str(user_id)

    out = []
    try:
        for item in data["items"]:
            body, meta = item["body"], item.get("metadata") or {}
            condition = SimpleNamespace(
                id=item["id"],
                name=item["name"],
                status=body["status"],
                question=meta.get("question"),
                result=meta.get("result"),
                created=_time(body.get("created")),
                resolved_at=_time(body.get("resolved_at")),
                resolved_by_user_id=body.get("resolved_by_user_id"),
                run_metadata=dict(meta.get("run_metadata") or {}),
            )
            out.append(wait_views.describe(condition, user_name))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SchemaMismatch("an unexpected answer") from None
    return out


def ids_with_prefix(prefix: str, limit: int) -> list[tuple[str, str | None]]:
    """Runs whose ID starts with ``prefix``, newest first (SchemaMismatch if not served)."""
    rest = _server()
    params = {"id": f"startswith:{prefix.lower()}", "sort_by": "desc:created", "size": limit}
    data = rest.get_json("/runs", "read", {**params, "hydrate": "true"})
    try:
        return [
            (str(r["id"]), (r["resources"].get("pipeline") or {}).get("name"))
            for r in data["items"]
        ]
    except (KeyError, TypeError, AttributeError):
        raise SchemaMismatch("an unexpected answer") from None
