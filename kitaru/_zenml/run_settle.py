"""Settling a run without ZenML's client: kitaru's end record and ZenML's ``failed``.

A command that notices a dead runner (``kitaru executions list``) records the
run crashed; importing ZenML for that one write would cost it seconds. Here the
write goes where the reads go (``run_reads``, ``run_rest_reads``):

- on the embedded store, one SQLite transaction (``BEGIN IMMEDIATE``) re-reads
  the run's status and run metadata, asks the caller what to write, and writes
  the run metadata rows and the run's status as ZenML 0.98's
  ``create_run_metadata`` and ``update_run`` do (for a dynamic pipeline, which
  every kitaru flow is). A second reader that noticed the same dead runner waits
  for the first one's transaction and then finds nothing left to settle.
- on a server of the pinned version, ZenML's own endpoints: ``POST
  /run-metadata`` and ``PUT /runs/ID``.

Anything unexpected raises :class:`~kitaru._zenml.run_reads.SchemaMismatch`
before anything is written, and the caller writes through ZenML's client.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kitaru._config import paths, store_access
from kitaru._config.connection import server_url
from kitaru._zenml.run_reads import SchemaMismatch, check_schema, resolved_metadata
from kitaru.errors import BackendError


@dataclass(frozen=True)
class Settlement:
    """What settling a run writes: run metadata (dict values), and whether ZenML's status fails."""

    metadata: dict[str, dict[str, Any]]
    fail: bool


#: Given the run's ZenML status and its resolved run metadata, what to write (None: nothing).
Decide = Callable[[str, dict[str, Any]], Settlement | None]

# Rows inserted name every column: a column these do not know may need a value.
_INSERTED = {
    "run_metadata": {
        "id",
        "created",
        "updated",
        "stack_component_id",
        "user_id",
        "project_id",
        "key",
        "value",
        "type",
        "publisher_step_id",
    },
    "run_metadata_resource": {"id", "resource_id", "resource_type", "run_metadata_id"},
}
_UPDATED = {
    "pipeline_run": {"status", "status_reason", "end_time", "in_progress", "updated"},
    "pipeline_snapshot": {"id", "is_dynamic", "stack_id"},
    "user": {"id", "name", "is_service_account"},
    "server_settings": {"onboarding_state", "updated"},
}
# ZenML's TEXT_FIELD_MAX_LENGTH: a longer value ZenML skips (with a warning).
_TEXT_MAX = 65535
# ZenML's default user (the active user of a client connected to the database) is named so.
_DEFAULT_USER_ENV, _DEFAULT_USER = "ZENML_DEFAULT_USER_NAME", "default"


def _now() -> str:
    # SQLAlchemy's SQLite DATETIME storage: naive UTC, always with microseconds.
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _check_columns(conn: sqlite3.Connection) -> None:
    for table, wanted in _INSERTED.items():
        if {r[1] for r in conn.execute(f"PRAGMA table_info({table})")} != wanted:
            raise SchemaMismatch(f"table {table}")
    for table, wanted in _UPDATED.items():
        if not wanted <= {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
            raise SchemaMismatch(f"table {table}")


def _default_user(conn: sqlite3.Connection) -> str:
    rows = conn.execute(
        "SELECT id FROM user WHERE name = ? AND is_service_account = 0",
        (os.environ.get(_DEFAULT_USER_ENV, _DEFAULT_USER),),
    ).fetchall()
    if len(rows) != 1:
        raise SchemaMismatch("no default user")
    return str(rows[0][0])


def _insert_metadata(
    conn: sqlite3.Connection, run_hex: str, project: str, metadata: dict[str, dict[str, Any]]
) -> None:
    """The rows ZenML's ``create_run_metadata`` writes for one pipeline run, dict values."""
    user = _default_user(conn)
    for key, value in metadata.items():
        text = json.dumps(value)
        if not isinstance(value, dict) or len(text) > _TEXT_MAX or ":" in key:
            raise SchemaMismatch("a value ZenML would refuse or skip")
        stamp, row_id = _now(), uuid.uuid4().hex
        conn.execute(
            "INSERT INTO run_metadata (id, created, updated, stack_component_id, user_id, "
            "project_id, key, value, type, publisher_step_id) "
            "VALUES (?, ?, ?, NULL, ?, ?, ?, ?, 'dict', NULL)",
            (row_id, stamp, stamp, user, project, key, text),
        )
        conn.execute(
            "INSERT INTO run_metadata_resource (id, resource_id, resource_type, run_metadata_id) "
            "VALUES (?, ?, 'pipeline_run', ?)",
            (uuid.uuid4().hex, run_hex, row_id),
        )


def _onboarding_steps(conn: sqlite3.Connection, stack_id: Any) -> set[str]:
    """The onboarding steps ZenML marks done when a run of this stack ends."""
    flavors = dict(
        conn.execute(
            "SELECT c.type, c.flavor FROM stack_composition sc "
            "JOIN stack_component c ON c.id = sc.component_id WHERE sc.stack_id = ?",
            (stack_id,),
        ).fetchall()
    )
    if "orchestrator" not in flavors or "artifact_store" not in flavors:
        raise SchemaMismatch("the run's stack is gone")  # ZenML's client says what it says
    steps = {"pipeline_run"}
    if flavors["orchestrator"] not in ("local", "local_docker"):
        steps.add("pipeline_run_with_remote_orchestrator")
    if flavors["artifact_store"] != "local":
        steps.add("pipeline_run_with_remote_artifact_store")
    return steps


def _fail_run(conn: sqlite3.Connection, run_hex: str, snapshot_id: Any) -> None:
    """ZenML's ``update_run(status=failed)`` of a dynamic pipeline's run, as SQL."""
    snapshot = conn.execute(
        "SELECT is_dynamic, stack_id FROM pipeline_snapshot WHERE id = ?", (snapshot_id,)
    ).fetchone()
    if snapshot is None or not snapshot[0]:
        # A static pipeline's status is computed from its steps: ZenML's client does that.
        raise SchemaMismatch("not a dynamic pipeline")
    steps = _onboarding_steps(conn, snapshot[1])
    now = _now()
    # The status changes, so ZenML clears its reason; a finished run is no longer in progress.
    conn.execute(
        "UPDATE pipeline_run SET status = 'failed', status_reason = NULL, in_progress = 0, "
        "end_time = COALESCE(end_time, ?), updated = ? WHERE id = ?",
        (now, now, run_hex),
    )
    settings = conn.execute("SELECT id, onboarding_state FROM server_settings").fetchall()
    if len(settings) != 1:
        raise SchemaMismatch("server settings")
    done = set(json.loads(settings[0][1]) if settings[0][1] else [])
    if not steps <= done:
        conn.execute(
            "UPDATE server_settings SET onboarding_state = ?, updated = ? WHERE id = ?",
            (json.dumps(sorted(done | steps)), now, settings[0][0]),
        )


def _settle_in(conn: sqlite3.Connection, run_hex: str, decide: Decide) -> bool:
    row = conn.execute(
        "SELECT status, snapshot_id, project_id FROM pipeline_run WHERE id = ?", (run_hex,)
    ).fetchone()
    if row is None:
        raise SchemaMismatch("no such run")  # ZenML's client says so in its words
    status, snapshot_id, project = row
    metadata = resolved_metadata(conn, "pipeline_run", [run_hex]).get(run_hex, {})
    settlement = decide(str(status), metadata)
    if settlement is None:
        return False
    _insert_metadata(conn, run_hex, str(project), settlement.metadata)
    if settlement.fail:
        _fail_run(conn, run_hex, snapshot_id)
    return True


def settle_in_store(run_id: str, decide: Decide) -> bool:
    """Settle a run of the embedded store in one transaction; True if ``decide`` wrote.

    Raises:
        SchemaMismatch: not the verified embedded store (nothing was written).
    """
    if server_url():
        raise SchemaMismatch("a server")
    db = paths().local_store_db
    if not db.exists():
        raise SchemaMismatch("no store yet")
    try:
        conn, read_only = store_access.open_store(db)
    except (sqlite3.Error, BackendError):
        raise SchemaMismatch("not writable here") from None
    try:
        if read_only:
            raise SchemaMismatch("a full disk")  # ZenML's client reports it
        check_schema(conn)
        _check_columns(conn)
        conn.execute("BEGIN IMMEDIATE")  # the re-read and the writes, one writer at a time
        try:
            done = _settle_in(conn, uuid.UUID(run_id).hex, decide)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return done
    except (sqlite3.Error, ValueError, TypeError, KeyError):
        raise SchemaMismatch("unexpected content") from None
    finally:
        conn.close()


def settle_on_server(run_id: str, decide: Decide) -> bool:
    """Settle a run on a server of the pinned version with ZenML's endpoints; True if written.

    Raises:
        SchemaMismatch: no server, or not the pinned version (nothing was written).
        BackendError: the server refused a write.
    """
    if not server_url():
        raise SchemaMismatch("no server")
    from kitaru._zenml.client import server_session

    rest = server_session()
    if rest is None:
        raise SchemaMismatch("another server version")
    run_id = str(uuid.UUID(run_id))
    item = rest.get_json(f"/runs/{run_id}", "settle", {"hydrate": "true"})
    try:
        status = str(item["body"]["status"])
        project = str(item["body"]["project_id"])
        metadata = dict(item["metadata"].get("run_metadata") or {})
    except (KeyError, TypeError, AttributeError):
        raise SchemaMismatch("an unexpected answer") from None
    settlement = decide(status, metadata)
    if settlement is None:
        return False
    body = {
        "project": project,
        "resources": [{"id": run_id, "type": "pipeline_run"}],
        "stack_component_id": None,
        "values": settlement.metadata,
        "types": dict.fromkeys(settlement.metadata, "dict"),
        "publisher_step_id": None,
    }
    try:
        rest.request("POST", "/run-metadata", "settle", json=body)
        if settlement.fail:
            rest.request("PUT", f"/runs/{run_id}", "settle", json={"status": "failed"})
    except store_access.HttpStatus as exc:
        raise BackendError(
            f"Recording the end of execution {run_id} on {rest.url} failed: {exc}",
            operation="settle",
        ) from None
    return True
