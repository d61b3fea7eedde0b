"""A crash noticed by a read command is written without importing ZenML.

Real flow processes are killed with SIGKILL while checkpoint 3 runs (see
``_durability_support``); then ``kitaru executions list/show`` in fresh
processes notice the dead runner and record the crash with one SQLite
transaction on the embedded store. ZenML's own client then reads the run as
ZenML would have written it (compared with a run whose crash went through
ZenML's client), a retry continues it, and two readers settling the same run at
once write its end record once. The same against a real ZenML server, where the
crash is written with ZenML's REST endpoints.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _cli_probe import probe
from _durability_support import (
    STEPS,
    Project,
    assert_ran_once_except,
    kill_held_at_step3,
    own_store_env,
    project_at,
    wait_status,
)
from _team_server import ADMIN_PASSWORD, clean_env, start_server, stop_all, wait_ready

# Switches the fast writers off: the crash is written through ZenML's client.
THROUGH_ZENML = """
from kitaru._zenml import run_reads, run_settle
def _off(*_a, **_k):
    raise run_reads.SchemaMismatch("switched off in this test")
run_settle.settle_in_store = _off
run_settle.settle_on_server = _off
"""

ZENML_READ = """
import json, sys
from kitaru._zenml.client import get_client
client = get_client()
out = {}
for run_id in sys.argv[1:]:
    run = client.get_pipeline_run(run_id)
    out[run_id] = {
        "status": run.status.value,
        "end": run.run_metadata.get("kitaru_end"),
        "ended": run.end_time is not None,
    }
print(json.dumps(out))
"""


@dataclass
class Crashed:
    main: Project  # runs "fast" and "zen"
    race: Project  # runs "race" and "schema", in a flow of their own (main's listing skips them)
    ids: dict[str, str]
    db: Path


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crashed]:
    """Four runs killed with SIGKILL at checkpoint 3, their crashes not yet recorded."""
    root = tmp_path_factory.mktemp("fast-settle")
    env = own_store_env(root / "kitaru-config")
    with project_at(root / "main", env) as main, project_at(root / "race", env) as race:
        runs = {"fast": main, "zen": main, "race": race, "schema": race}
        procs = {}
        for tag, proj in runs.items():
            proj.hold_file(tag).touch()
            procs[tag] = proj.start(tag)
        ids = {tag: kill_held_at_step3(runs[tag], tag, procs[tag])[0] for tag in runs}
        db = root / "kitaru-config" / "zenml" / "local_stores" / "default_zen_store" / "zenml.db"
        assert db.exists()
        yield Crashed(main, race, ids, db)


def _sql(db: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def _end_rows(db: Path, run_id: str) -> list[tuple[Any, ...]]:
    """Each ``kitaru_end`` row of a run: the columns ZenML fills, and the value."""
    return _sql(
        db,
        "SELECT m.stack_component_id, m.user_id, m.project_id, m.type, m.publisher_step_id, "
        "m.value, m.created IS NOT NULL, m.updated IS NOT NULL, rr.resource_type "
        "FROM run_metadata m JOIN run_metadata_resource rr ON rr.run_metadata_id = m.id "
        "WHERE m.key = 'kitaru_end' AND rr.resource_id = ?",
        run_id.replace("-", ""),
    )


def _run_row(db: Path, run_id: str) -> tuple[Any, ...]:
    rows = _sql(
        db,
        "SELECT status, status_reason, in_progress, end_time IS NOT NULL, "
        "end_time >= start_time FROM pipeline_run WHERE id = ?",
        run_id.replace("-", ""),
    )
    assert len(rows) == 1
    return rows[0]


def test_a_crash_noticed_by_list_is_recorded_without_zenml_as_zenml_records_it(
    crashed: Crashed,
) -> None:
    proj, fast, zen = crashed.main, crashed.ids["fast"], crashed.ids["zen"]
    # The comparison: "zen" settled through ZenML's client (``show`` of that run alone).
    through_zenml = probe(
        [["executions", "show", zen, "--json"]],
        prelude=THROUGH_ZENML, env=proj.env, cwd=proj.root,
    )  # fmt: skip
    assert json.loads(through_zenml.outputs[0])["status"] == "crashed"
    assert "zenml" in through_zenml.loaded
    assert _end_rows(crashed.db, fast) == [], "nothing recorded the fast run's crash yet"
    assert _run_row(crashed.db, fast)[0] == "running"

    got = probe(
        [
            ["executions", "list", "--flow", proj.flow, "--json"],
            ["executions", "show", fast, "--json"],
        ],
        env=proj.env,
        cwd=proj.root,
    )
    assert got.loaded == [], "noticing the crash imported zenml"
    listed = {row["id"]: row["status"] for row in json.loads(got.outputs[0])}
    assert listed == {fast: "crashed", zen: "crashed"}
    shown = json.loads(got.outputs[1])
    assert shown["status"] == "crashed"
    statuses = {c["name"]: c["status"] for c in shown["checkpoints"]}
    assert statuses["step1"] == statuses["step2"] == "completed"

    # One end record each, in the same columns and shape as ZenML's own write.
    fast_rows, zen_rows = _end_rows(crashed.db, fast), _end_rows(crashed.db, zen)
    assert len(fast_rows) == 1 and len(zen_rows) == 1
    (fast_row,), (zen_row,) = fast_rows, zen_rows
    # All but the value alike: no stack component, the default user, the project, a dict ...
    assert fast_row[:5] == zen_row[:5] and fast_row[6:] == zen_row[6:]
    assert fast_row[3] == "dict" and fast_row[1] is not None
    fast_end, zen_end = json.loads(fast_row[5]), json.loads(zen_row[5])
    assert list(fast_end) == list(zen_end)
    assert fast_end["status"] == zen_end["status"] == "crashed"
    assert "died" in fast_end["error"] and fast_end["token"]
    assert _run_row(crashed.db, fast) == _run_row(crashed.db, zen) == ("failed", None, 0, 1, 1)
    onboarding = _sql(crashed.db, "SELECT onboarding_state FROM server_settings")
    assert "pipeline_run" in json.loads(onboarding[0][0])

    # ZenML's own client reads both runs alike: failed, ended, kitaru's end record.
    read = subprocess.run(
        [sys.executable, "-c", ZENML_READ, fast, zen],
        env=proj.env, cwd=proj.root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr[-3000:]
    by_zenml = json.loads(read.stdout.strip().splitlines()[-1])
    assert by_zenml[fast] == {"status": "failed", "end": fast_end, "ended": True}
    assert by_zenml[zen] == {"status": "failed", "end": zen_end, "ended": True}

    # A second reader finds nothing left to write.
    again = probe([["executions", "list", "--flow", proj.flow, "--json"]], env=proj.env)
    assert {r["id"]: r["status"] for r in json.loads(again.outputs[0])}[fast] == "crashed"
    assert len(_end_rows(crashed.db, fast)) == 1

    # The retry continues the same execution: only checkpoint 3 runs again.
    res = proj.kitaru("executions", "retry", fast)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    done = proj.show(fast)
    assert done["status"] == "completed"
    assert list(dict.fromkeys(c["name"] for c in done["checkpoints"])) == list(STEPS)
    assert_ran_once_except(proj.counts("fast"), "step3", exact=True)
    assert proj.execution_ids("fast") == {fast}


RACE = """
import json, sqlite3, sys, threading
from kitaru._config import paths, store_access
from kitaru._zenml import run_state

run_id = sys.argv[1]
begun = threading.Semaphore(0)
opened = store_access.open_store

def open_traced(db):
    conn, read_only = opened(db)
    conn.set_trace_callback(lambda sql: sql == "BEGIN IMMEDIATE" and begun.release())
    return conn, read_only

store_access.open_store = open_traced
# This process holds the store's write lock until both settlers are at their BEGIN.
holder = sqlite3.connect(str(paths().local_store_db), isolation_level=None)
holder.execute("BEGIN IMMEDIATE")
results = []
def settle():
    results.append(run_state.mark_crashed(run_id, "The flow's process died (race)."))
threads = [threading.Thread(target=settle) for _ in range(2)]
for t in threads:
    t.start()
for _ in threads:
    assert begun.acquire(timeout=120), "a settler never began its transaction"
holder.execute("COMMIT")
for t in threads:
    t.join(120)
print(json.dumps({"results": sorted(results), "zenml": "zenml" in sys.modules}))
"""


def test_two_readers_settling_one_run_at_once_write_it_once(crashed: Crashed) -> None:
    proj, race = crashed.race, crashed.ids["race"]
    out = subprocess.run(
        [sys.executable, "-c", RACE, race],
        env=proj.env, cwd=proj.root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # Both waited for the lock; the one that came second found the run settled.
    assert got == {"results": [False, True], "zenml": False}
    rows = _end_rows(crashed.db, race)
    assert len(rows) == 1 and json.loads(rows[0][5])["status"] == "crashed"
    assert _run_row(crashed.db, race)[0] == "failed"
    shown = proj.show(race)
    assert shown["status"] == "crashed"


# The store's revision is not the one verified: the SQL writer refuses (noted in a file).
OTHER_REVISION = """
from kitaru._config import store_access
from kitaru._zenml import run_reads, run_settle
store_access.SCHEMA_VERSION = "0.0.1"
_fast = run_settle.settle_in_store
def _noted(*args, **kwargs):
    try:
        return _fast(*args, **kwargs)
    except run_reads.SchemaMismatch as exc:
        open({seen!r}, "w").write(str(exc))
        raise
run_settle.settle_in_store = _noted
"""


def test_a_store_of_another_schema_revision_is_settled_through_zenml(
    crashed: Crashed, tmp_path: Path
) -> None:
    proj, run_id = crashed.race, crashed.ids["schema"]
    seen = tmp_path / "mismatch"
    other = OTHER_REVISION.format(seen=str(seen))
    got = probe([["executions", "show", run_id, "--json"]], prelude=other, env=proj.env)
    assert json.loads(got.outputs[0])["status"] == "crashed"
    assert seen.read_text() == "another schema revision", "the SQL writer must refuse it"
    assert "zenml" in got.loaded
    (row,) = _end_rows(crashed.db, run_id)
    assert json.loads(row[5])["status"] == "crashed"
    assert _run_row(crashed.db, run_id) == ("failed", None, 0, 1, 1)


# --------------------------------------------------------------------- a ZenML server


def test_a_crash_noticed_on_a_server_is_recorded_over_rest_as_zenml_records_it(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "server")
    try:
        wait_ready(server)
        env = clean_env(KITARU_CONFIG_PATH=str(tmp_path / "config"), KITARU_PROGRESS="0")
        with project_at(tmp_path / "proj", env) as proj:
            login = proj.kitaru(
                "login", server.url, "-u", "admin", "--stdin", input=ADMIN_PASSWORD + "\n"
            )
            assert login.returncode == 0, login.stderr[-2000:]
            procs = {}
            for tag in ("fast", "zen"):
                proj.hold_file(tag).touch()
                procs[tag] = proj.start(tag)
            fast, zen = (kill_held_at_step3(proj, tag, procs[tag])[0] for tag in ("fast", "zen"))

            slow = probe(
                [["executions", "show", zen, "--json"]],
                prelude=THROUGH_ZENML, env=env, cwd=proj.root,
            )  # fmt: skip
            assert json.loads(slow.outputs[0])["status"] == "crashed"
            assert "zenml" in slow.loaded
            got = probe([["executions", "list", "--flow", proj.flow, "--json"]], env=env)
            assert got.loaded == [], "noticing the crash imported zenml"
            listed = {row["id"]: row["status"] for row in json.loads(got.outputs[0])}
            assert listed == {fast: "crashed", zen: "crashed"}

            read = subprocess.run(
                [sys.executable, "-c", ZENML_READ, fast, zen],
                env=env, cwd=proj.root, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert read.returncode == 0, read.stderr[-3000:]
            by_zenml = json.loads(read.stdout.strip().splitlines()[-1])
            fast_run, zen_run = by_zenml[fast], by_zenml[zen]
            assert fast_run["status"] == zen_run["status"] == "failed"
            assert fast_run["ended"] and zen_run["ended"]
            assert list(fast_run["end"]) == list(zen_run["end"])
            assert fast_run["end"]["status"] == zen_run["end"]["status"] == "crashed"

            res = proj.kitaru("executions", "retry", fast)
            assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
            done = wait_status(proj, fast, {"completed", "failed", "crashed"})
            assert done["status"] == "completed", done.get("error")
            assert_ran_once_except(proj.counts("fast"), "step3", exact=True)
    finally:
        stop_all([server])
