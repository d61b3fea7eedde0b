"""A waiting flow in team mode: a real ZenML server on 127.0.0.1, two users.

alice runs a flow that stops at a wait; bob (logged in, who can read the run)
answers it; alice resumes the same execution. The record names bob as the one
who answered. A process with no login cannot answer. Every user runs kitaru in
subprocesses with their own KITARU_CONFIG_PATH.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _team_server import (
    Server,
    admin_finish,
    admin_setup,
    clean_env,
    start_server,
    stop_all,
    wait_ready,
)
from test_waits import SCRIPT

KITARU = str(Path(sys.executable).parent / "kitaru")
PASSWORDS = {"alice": "alice-Passw0rd!-w1", "bob": "bob-Passw0rd!-w2"}
TIMEOUT = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("team-waits")
    server = start_server(root / "server")
    try:
        wait_ready(server)
        admin_finish(server, admin_setup(server, PASSWORDS))
        for user, password in PASSWORDS.items():
            login = _kitaru(root, user, "login", server.url, "-u", user, "--stdin", input=password)
            assert login.returncode == 0, login.stderr
        yield server, root
    finally:
        stop_all([server])


def _env(root: Path, user: str) -> dict[str, str]:
    return clean_env(KITARU_CONFIG_PATH=str(root / "users" / user))


def _kitaru(
    root: Path, user: str, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KITARU, *args],
        env=_env(root, user),
        input=(input + "\n") if input is not None else None,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


def test_bob_answers_alice_waiting_flow_and_the_record_names_him(
    server: tuple[Server, Path], tmp_path: Path
) -> None:
    srv, root = server
    script = tmp_path / "waiting_job.py"
    script.write_text(SCRIPT, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script), "approval", "4", "0"],
        env=_env(root, "alice"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    started = json.loads(run.stdout.splitlines()[0])
    execution_id = started["id"]
    assert started["status"] == "waiting"

    anonymous = subprocess.run(
        [KITARU, "executions", "input", execution_id, "--value", '"ship"'],
        env=clean_env(KITARU_CONFIG_PATH=str(tmp_path / "nobody"), KITARU_SERVER_URL=srv.url),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )
    assert anonymous.returncode == 1 and anonymous.stderr.count("\n") == 1, anonymous.stderr

    given = _kitaru(root, "bob", "executions", "input", execution_id, "--value", '"ship"')
    assert given.returncode == 0, given.stderr
    gate = _kitaru(root, "bob", "executions", "input", execution_id, "--value", "null")
    assert gate.returncode == 1 and "no wait pending" in gate.stderr  # wait_2 not reached yet

    resumed = _kitaru(root, "alice", "executions", "resume", execution_id)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == f"Resumed {execution_id}: waiting"
    assert _kitaru(root, "alice", "executions", "input", execution_id, "--abort").returncode == 0
    final = _kitaru(root, "alice", "executions", "resume", execution_id)
    assert final.stdout.strip() == f"Resumed {execution_id}: completed", final.stderr

    shown = _kitaru(root, "alice", "executions", "show", execution_id, "-o", "json")
    data = json.loads(shown.stdout)
    assert data["status"] == "completed" and data["user"] == "alice"
    assert [(w["name"], w["status"], w["answered_by"]) for w in data["waits"]] == [
        ("wait", "answered", "bob"),
        ("wait_2", "aborted", "alice"),
    ]
    assert script.with_name("marks.txt").read_text().split() == ["prepare", "finish"]
