"""Surviving a crash away from the embedded store: on a real ZenML server, on ``kitaru_subprocess``.

The scenario of ``test_durability.py``: a real flow process (five checkpoints,
see ``_durability_support``) is SIGKILLed while checkpoint 3 runs; the
execution must be listed ``crashed`` within 10 s, and ``kitaru executions
retry`` must complete the same execution without running checkpoints 1-2
again. Once with the store on a ZenML server (uvicorn on 127.0.0.1, a user
logged in through the CLI), once with the flow run by the fresh-process
orchestrator, whose child process is the one killed.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _durability_support import (
    STEPS,
    Project,
    assert_ran_once_except,
    kill_held_at_step3,
    own_store_env,
    project_at,
    result_line,
    wait_crashed,
    wait_for_mark,
    wait_status,
)
from _remote import create_stack
from _team_server import Server, admin_finish, admin_setup, clean_env, start_server, wait_ready

PASSWORD = "durable-Passw0rd!-z9"


def processes_with(*needles: str) -> list[int]:
    """Pids whose command line holds every one of ``needles`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if all(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


def flow_processes(execution_id: str) -> list[int]:
    """The entrypoint processes running ``execution_id``.

    ``kitaru_subprocess`` starts each under a watcher whose command line holds the
    flow process's; the watcher is not a flow process.
    """
    found = processes_with("zenml.entrypoints", execution_id)
    watchers = set(processes_with("kitaru._zenml.flow_process", execution_id))
    return [pid for pid in found if pid not in watchers]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("durability-server") / "server")
    try:
        wait_ready(srv)
        admin_finish(srv, admin_setup(srv, {"alice": PASSWORD}))
        yield srv
    finally:
        srv.stop()


def _retry_completes_the_same_execution(proj: Project, tag: str, execution_id: str) -> None:
    res = proj.kitaru("executions", "retry", execution_id)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr[-3000:]}"
    done = wait_status(proj, execution_id, {"completed", "failed", "crashed"})
    assert done["id"] == execution_id and done["status"] == "completed", done.get("error")
    assert list(dict.fromkeys(c["name"] for c in done["checkpoints"])) == list(STEPS)
    assert_ran_once_except(proj.counts(tag), "step3", exact=True)
    assert proj.execution_ids(tag) == {execution_id}
    assert [r["id"] for r in proj.list()] == [execution_id]


def test_sigkill_at_checkpoint_3_on_a_zenml_server_then_retry(
    server: Server, tmp_path: Path
) -> None:
    env = clean_env(KITARU_CONFIG_PATH=str(tmp_path / "alice"), KITARU_PROGRESS="0")
    with project_at(tmp_path / "proj", env) as proj:
        login = proj.kitaru(
            "login", server.url, "-u", "alice", "--stdin", input=PASSWORD + "\n", timeout=300
        )
        assert login.returncode == 0, login.stderr

        tag = "server"
        proj.hold_file(tag).touch()
        proc = proj.start(tag)
        execution_id, killed_at = kill_held_at_step3(proj, tag, proc)
        assert wait_crashed(proj, execution_id, killed_at) <= 10.0
        shown = proj.show(execution_id)
        assert shown["status"] == "crashed"
        statuses = {c["name"]: c["status"] for c in shown["checkpoints"]}
        assert statuses.get("step1") == "completed" and statuses.get("step2") == "completed"
        _retry_completes_the_same_execution(proj, tag, execution_id)
    # The run lives on the server, not in a local store of the user's.
    assert not list((tmp_path / "alice").rglob("zenml.db"))


def test_sigkill_of_the_kitaru_subprocess_child_at_checkpoint_3_then_retry(
    fresh_python: Path, tmp_path: Path
) -> None:
    env = own_store_env(tmp_path / "kitaru-config")
    stack = f"fresh-{uuid.uuid4().hex[:8]}"
    create_stack(env, stack, fresh_python, tmp_path / "runs")
    with project_at(tmp_path / "proj", env) as proj:
        tag = "child"
        proj.hold_file(tag).touch()  # checkpoint 3 waits until the child is killed
        caller = proj.start(tag, stack)
        execution_id = wait_for_mark(proj, tag, "step3", caller, timeout=600)
        children = flow_processes(execution_id)
        assert len(children) == 1, (
            f"flow processes of {execution_id}: {children}; "
            f"all entrypoint processes: {processes_with('zenml.entrypoints')}"
        )
        assert children[0] != caller.pid
        killed_at = time.monotonic()
        os.kill(children[0], signal.SIGKILL)
        proj.hold_file(tag).unlink()

        # The caller's handle.wait() ends: the execution crashed, and it says how to retry.
        out, err = caller.communicate(timeout=300)
        assert caller.returncode == 0, err[-3000:]
        result = result_line(out)
        assert result.get("status") == "crashed", result
        assert "crashed" in result["error"] and "kitaru executions retry" in result["error"]

        assert wait_crashed(proj, execution_id, killed_at) <= 10.0
        assert proj.counts(tag) == {"step1": 1, "step2": 1, "step3": 1}
        _retry_completes_the_same_execution(proj, tag, execution_id)
        # Retried on the run's own stack: the checkpoints ran in a fresh process again.
        assert proj.show(execution_id)["stack"] == stack
