"""Reading executions without ZenML: ``kitaru executions list/show/logs`` in a blink.

Opening ZenML costs seconds per process; reading a page of runs costs
milliseconds. On the embedded store, runs, their steps and their run metadata
are read here with read-only SQL on ZenML 0.98's tables, taken only when the
schema's alembic revision is the pinned one, the tables have the expected
columns and the store holds one project (ZenML's client lists the active
project's runs). Anything else returns None and the caller asks ZenML's client.

The rows become small plain objects with the attributes the pure readers in
``run_state``, ``run_record`` and ``run_log_store`` use on ZenML's responses
(``status``, ``run_metadata``, ``start_time``, ``steps`` ...), so the same code
turns either into kitaru's views. Run metadata is resolved as ZenML resolves
it: per key, oldest first, dict values merged (newer fields win), any other
value replaced by the newest.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from kitaru._config import paths, store_access
from kitaru._config.connection import server_url
from kitaru._zenml import wait_views

_COLUMNS = {
    "pipeline_run": {
        "id",
        "created",
        "status",
        "start_time",
        "end_time",
        "original_run_id",
        "pipeline_id",
        "user_id",
        "snapshot_id",
        "project_id",
    },
    "pipeline": {"id", "name"},
    "user": {"id", "name"},
    "pipeline_snapshot": {"id", "stack_id"},
    "stack": {"id", "name"},
    "stack_composition": {"stack_id", "component_id"},
    "stack_component": {"id", "type", "flavor", "configuration"},
    "project": {"id"},
    "step_run": {
        "id",
        "created",
        "name",
        "status",
        "start_time",
        "end_time",
        "original_step_run_id",
        "pipeline_run_id",
        "version",
    },
    "run_metadata": {"id", "created", "key", "value"},
    "run_wait_condition": {
        "id",
        "created",
        "run_id",
        "name",
        "status",
        "question",
        "result_json",
        "resolved_at",
        "resolved_by_user_id",
    },
    "run_metadata_resource": {"resource_id", "resource_type", "run_metadata_id"},
    # Checkpoint outputs (``artifact_reads``).
    "step_run_output_artifact": {"step_id", "artifact_id"},
    "artifact_version": {"id", "uri", "materializer", "data_type", "artifact_store_id"},
}
_RUN_SQL = (
    "SELECT r.id, r.status, r.start_time, r.end_time, r.original_run_id, "
    "p.name, u.name, s.name, r.created, "
    "(SELECT c.flavor FROM stack_composition sc JOIN stack_component c "
    "ON c.id = sc.component_id WHERE sc.stack_id = d.stack_id AND c.type = 'orchestrator') "
    "FROM pipeline_run r "
    "LEFT JOIN pipeline p ON p.id = r.pipeline_id "
    "LEFT JOIN user u ON u.id = r.user_id "
    "LEFT JOIN pipeline_snapshot d ON d.id = r.snapshot_id "
    "LEFT JOIN stack s ON s.id = d.stack_id "
)


class SchemaMismatch(Exception):
    """The store is not the one these reads were verified against (ZenML reads it)."""


@contextlib.contextmanager
def store() -> Iterator[sqlite3.Connection]:
    """A read-only connection to a verified embedded store (SchemaMismatch otherwise)."""
    if server_url():
        raise SchemaMismatch("a server")
    db = paths().local_store_db
    if not db.exists():
        raise SchemaMismatch("no store yet")  # a new store is made by ZenML
    try:
        conn = store_access.open_read_only(db)
    except sqlite3.Error:
        raise SchemaMismatch("not readable") from None
    try:
        check_schema(conn)
        yield conn
    except (sqlite3.Error, ValueError, TypeError, KeyError):
        raise SchemaMismatch("unexpected content") from None
    finally:
        conn.close()


def check_schema(conn: sqlite3.Connection) -> None:
    """SchemaMismatch unless ``conn`` holds the pinned revision, the columns read, one project."""
    version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if version is None or version[0] != store_access.SCHEMA_VERSION:
        raise SchemaMismatch("another schema revision")
    for table, wanted in _COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not wanted <= have:
            raise SchemaMismatch(f"table {table}")
    if conn.execute("SELECT COUNT(*) FROM project").fetchone()[0] != 1:
        raise SchemaMismatch("several projects")


def _time(stamp: Any) -> datetime | None:
    return datetime.fromisoformat(str(stamp)) if stamp is not None else None


def resolved_metadata(
    conn: sqlite3.Connection, kind: str, ids: list[str], keys: tuple[str, ...] | None = None
) -> dict[str, dict[str, Any]]:
    """Resolved run metadata of each resource (ZenML's ``resolve_metadata_collection``)."""
    if not ids:
        return {}
    where = f"rr.resource_type = ? AND rr.resource_id IN ({','.join('?' * len(ids))})"
    params: list[Any] = [kind, *ids]
    if keys is not None:
        where += f" AND m.key IN ({','.join('?' * len(keys))})"
        params.extend(keys)
    collected: dict[str, dict[str, list[Any]]] = {}
    for resource_id, key, value in conn.execute(
        "SELECT rr.resource_id, m.key, m.value FROM run_metadata_resource rr "
        f"JOIN run_metadata m ON m.id = rr.run_metadata_id WHERE {where} "
        "ORDER BY m.created, m.rowid",
        params,
    ):
        collected.setdefault(resource_id, {}).setdefault(key, []).append(json.loads(value))
    out: dict[str, dict[str, Any]] = {}
    for resource_id, by_key in collected.items():
        resolved: dict[str, Any] = {}
        for key, values in by_key.items():
            if all(isinstance(v, dict) for v in values):
                resolved[key] = {k: v for value in values for k, v in value.items()}
            else:
                resolved[key] = values[-1]
        out[resource_id] = resolved
    return out


def _named(name: Any) -> SimpleNamespace | None:
    return SimpleNamespace(name=name) if name is not None else None


def _stack(name: Any, orchestrator: Any) -> SimpleNamespace | None:
    # As ZenML's stack reads: its name, and its orchestrator's flavor (components by type).
    if name is None:
        return None
    flavors = [SimpleNamespace(flavor_name=orchestrator)] if orchestrator is not None else []
    return SimpleNamespace(name=name, components={"orchestrator": flavors})


def _runs(
    conn: sqlite3.Connection, where: str, params: list[Any], keys: tuple[str, ...] | None
) -> list[SimpleNamespace]:
    rows = conn.execute(_RUN_SQL + where, params).fetchall()
    meta = resolved_metadata(conn, "pipeline_run", [r[0] for r in rows], keys)
    return [
        SimpleNamespace(
            id=store_access.format_id(run_id),
            status=status,
            start_time=_time(start),
            end_time=_time(end),
            original_run=SimpleNamespace(id=store_access.format_id(original)) if original else None,
            pipeline=_named(flow),
            user=_named(user),
            snapshot=SimpleNamespace(stack=_stack(stack, orchestrator)),
            created=_time(created),
            run_metadata=meta.get(run_id, {}),
        )
        for run_id, status, start, end, original, flow, user, stack, created, orchestrator in rows
    ]


def list_runs(limit: int, flow: str | None, keys: tuple[str, ...]) -> list[SimpleNamespace]:
    """The newest ``limit`` runs (of ``flow``), with only metadata ``keys`` (SchemaMismatch)."""
    where, params = "", []
    if flow:
        where, params = "WHERE p.name = ? ", [flow]
    with store() as conn:
        return _runs(
            conn, where + "ORDER BY r.created DESC, r.id DESC LIMIT ?", [*params, limit], keys
        )


def load_run(execution_id: str) -> SimpleNamespace | None:
    """One run with its steps and all their metadata; None if no such run (SchemaMismatch)."""
    try:
        run_hex = uuid.UUID(execution_id).hex
    except ValueError:
        return None
    with store() as conn:
        found = _runs(conn, "WHERE r.id = ?", [run_hex], None)
        if not found:
            return None
        run = found[0]
        steps = conn.execute(
            "SELECT id, name, status, start_time, end_time, original_step_run_id, version "
            "FROM step_run "
            "WHERE pipeline_run_id = ? AND status != 'retried' ORDER BY created, id",
            (run_hex,),
        ).fetchall()
        meta = resolved_metadata(conn, "step_run", [s[0] for s in steps])
        run.steps = {
            name: SimpleNamespace(
                id=store_access.format_id(step_id),
                name=name,
                status=status,
                start_time=_time(start),
                end_time=_time(end),
                original_step_run_id=store_access.format_id(original) if original else None,
                version=version,
                run_metadata=meta.get(step_id, {}),
            )
            for step_id, name, status, start, end, original, version in steps
        }
        return run


def ids_with_prefix(prefix: str, limit: int) -> list[tuple[str, str | None]]:
    """Runs whose ID starts with ``prefix``: ``(id, flow name)``, newest first (SchemaMismatch)."""
    hex_prefix = prefix.lower().replace("-", "")
    with store() as conn:
        rows = conn.execute(
            "SELECT r.id, p.name FROM pipeline_run r LEFT JOIN pipeline p ON p.id = r.pipeline_id "
            "WHERE r.id LIKE ? ORDER BY r.created DESC, r.id DESC LIMIT ?",
            (hex_prefix + "%", limit),
        ).fetchall()
    return [(store_access.format_id(run_id), flow) for run_id, flow in rows]


def _name_or_id(name: str | None) -> Callable[[Any], str]:
    # A deleted user is shown by its ID, as through ZenML's client.
    return lambda user_id: name or str(user_id)


def waits_of(execution_id: str) -> list[dict[str, Any]]:
    """The waits of a run, oldest first, as ``waits.waits_of`` gives them (SchemaMismatch)."""
    run_hex = uuid.UUID(execution_id).hex
    with store() as conn:
        rows = conn.execute(
            "SELECT w.id, w.name, w.status, w.question, w.result_json, w.created, "
            "w.resolved_at, w.resolved_by_user_id, u.name FROM run_wait_condition w "
            "LEFT JOIN user u ON u.id = w.resolved_by_user_id "
            "WHERE w.run_id = ? ORDER BY w.created, w.id",
            (run_hex,),
        ).fetchall()
        meta = resolved_metadata(conn, "wait_condition", [r[0] for r in rows])
    out = []
    for wait_id, name, status, question, result, created, resolved, by_id, by_name in rows:
        condition = SimpleNamespace(
            id=store_access.format_id(wait_id),
            name=name,
            status=status,
            question=question,
            result=json.loads(result) if result else None,
            created=_time(created),
            resolved_at=_time(resolved),
            resolved_by_user_id=store_access.format_id(by_id) if by_id else None,
            run_metadata=meta.get(wait_id, {}),
        )
        out.append(wait_views.describe(condition, _name_or_id(by_name)))
    return out
