"""``kitaru.wait()``: released and resumed in place, answered while polling, aborted, on a TTY.

Cross-process tests run a flow script in a subprocess (stdin not a terminal), then
answer and resume it with the real ``kitaru`` CLI; a marker file proves that the
checkpoints before the wait ran once.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, run_cli

import kitaru

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from typing import Literal

    import kitaru

    MARKS = Path(__file__).with_name("marks.txt")


    def mark(what: str) -> None:
        with MARKS.open("a") as fh:
            fh.write(what + "\\n")


    @kitaru.checkpoint
    def prepare(n: int) -> int:
        mark("prepare")
        return n * 2


    @kitaru.checkpoint
    def finish(x: int, choice: str) -> str:
        mark("finish")
        return f"{x}:{choice}"


    @kitaru.flow
    def approval(n: int, timeout: int) -> str:
        x = prepare(n)
        choice = kitaru.wait(
            schema=Literal["ship", "hold"], question="Ship it?", timeout=timeout,
            metadata={"n": n},
        )
        try:
            kitaru.wait(question="Really?", timeout=timeout)
        except kitaru.WaitAbortedError:
            choice += "+gate-aborted"
        return finish(x, choice)


    @kitaru.flow
    def ask_number(n: int) -> int:
        return n * kitaru.wait(schema=int, question="Which number?")


    if __name__ == "__main__":
        if sys.argv[1] == "approval":
            handle = approval.run(int(sys.argv[2]), int(sys.argv[3]))
        else:
            handle = ask_number.run(int(sys.argv[2]))
        print(json.dumps({"id": handle.execution_id, "status": handle.status}), flush=True)
        try:
            print(json.dumps({"result": handle.wait()}))
        except kitaru.FlowWaitingError as exc:
            print(json.dumps({"waiting": str(exc), "waits": list(exc.waits)}))
    """
)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "waiting_job.py"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def _run_script(script: Path, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [PYTHON, str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=script.parent,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _marks(script: Path) -> list[str]:
    path = script.with_name("marks.txt")
    return path.read_text().split() if path.exists() else []


def test_released_wait_is_answered_and_resumed_in_place_from_other_processes(
    script: Path,
) -> None:
    started, outcome = _run_script(script, "approval", "3", "0")
    execution_id = started["id"]
    assert started["status"] == "waiting"
    assert outcome["waits"] == ["wait"]
    assert execution_id in outcome["waiting"]
    assert f"kitaru executions input {execution_id} --value JSON" in outcome["waiting"]
    assert _marks(script) == ["prepare"]

    listed = run_cli("executions", "list", "--status", "waiting", "-o", "json")
    assert execution_id in {e["id"] for e in json.loads(listed.stdout)}
    shown = run_cli("executions", "show", execution_id)
    assert "Status:     waiting" in shown.stdout
    assert "question: Ship it?" in shown.stdout
    assert '"enum": ["ship", "hold"]' in shown.stdout
    assert 'metadata: {"n": 3}' in shown.stdout

    bad = run_cli("executions", "input", execution_id, "--value", '"maybe"')
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "does not match the schema of wait 'wait'" in bad.stderr
    not_json = run_cli("executions", "input", execution_id, "--value", "ship")
    assert not_json.returncode == 2 and "must be JSON" in not_json.stderr
    assert [w.status for w in kitaru.executions.list_waits(execution_id)] == ["pending"]
    early = run_cli("executions", "resume", execution_id)
    assert early.returncode == 2 and "still waiting for input on wait 'wait'" in early.stderr

    given = run_cli("executions", "input", execution_id[:12], "--value", '"ship"')
    assert given.returncode == 0, given.stderr
    assert f"kitaru executions resume {execution_id}" in given.stdout
    resumed = run_cli("executions", "resume", execution_id)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == f"Resumed {execution_id}: waiting"  # at the gate, wait_2
    assert _marks(script) == ["prepare"]

    aborted = run_cli("executions", "input", execution_id, "--abort")
    assert aborted.returncode == 0, aborted.stderr
    final = run_cli("executions", "resume", execution_id, "-o", "json")
    assert json.loads(final.stdout) == {
        "execution_id": execution_id,
        "status": "completed",
        "error": None,
    }
    assert _marks(script) == ["prepare", "finish"]
    assert kitaru.executions.get_execution(execution_id).status == "completed"

    ex = kitaru.get_execution(execution_id, outputs=True)
    assert ex.result == "'6:ship+gate-aborted'"
    assert [(w.name, w.status, w.answered_by) for w in ex.waits] == [
        ("wait", "answered", "default"),
        ("wait_2", "aborted", "default"),
    ]
    assert ex.waits[0].value == "ship" and ex.waits[0].answered_at
    late = run_cli("executions", "input", execution_id, "--value", '"hold"')
    assert late.returncode == 1 and "is completed and has no wait pending" in late.stderr
    again = run_cli("executions", "resume", execution_id)
    assert again.returncode == 1 and "is completed, not waiting" in again.stderr


def _until(check: Any) -> Any:
    """Poll ``check`` until it returns something truthy (the test's timeout bounds it)."""
    while True:
        found = check()
        if found:
            return found
        time.sleep(0.5)


def test_input_while_the_flow_still_polls_continues_in_the_same_process(
    script: Path,
) -> None:
    proc = subprocess.Popen(
        [PYTHON, str(script), "approval", "5", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=script.parent,
    )
    try:

        def pending(name: str) -> Any:
            return [
                w
                for w in kitaru.executions.list_waits(execution_id, pending_only=True)
                if w.name == name
            ]

        execution_id = _until(
            lambda: next(
                (
                    e.id
                    for e in kitaru.list_executions(limit=5, flow="approval")
                    if e.status == "running"
                ),
                None,
            )
        )
        _until(lambda: pending("wait"))
        assert kitaru.get_execution(execution_id).status == "running"  # still polling
        assert kitaru.executions.give_input(execution_id, "hold") == "wait"
        _until(lambda: pending("wait_2"))
        assert kitaru.executions.give_input(execution_id, None) == "wait_2"
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err[-3000:]
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines[0] == {"id": execution_id, "status": "completed"}
    assert lines[1] == {"result": "10:hold"}
    assert _marks(script) == ["prepare", "finish"]


def _read_until(fd: int, needle: str, seen: list[str]) -> str:
    """Read the terminal until ``needle`` appears after what was already seen."""
    start = len("".join(seen))
    while needle not in "".join(seen)[start:]:
        ready, _, _ = select.select([fd], [], [], 300)
        assert ready, f"no {needle!r} on the terminal; got {''.join(seen)[-2000:]!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other side closed
            chunk = b""
        assert chunk, f"terminal closed before {needle!r}; got {''.join(seen)[-2000:]!r}"
        seen.append(chunk.decode(errors="replace"))
    return "".join(seen)[start:]


def test_on_a_terminal_kitaru_asks_re_asks_and_continues_in_process(script: Path) -> None:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [PYTHON, str(script), "ask_number", "3"],
        stdin=terminal,
        stderr=terminal,
        stdout=subprocess.PIPE,
        text=True,
        cwd=script.parent,
    )
    os.close(terminal)
    seen: list[str] = []
    try:
        asked = _read_until(controller, "> ", seen)
        assert "waits for input (wait)" in asked and "Which number?" in asked
        assert '{"type": "integer"}' in asked
        os.write(controller, b"seven\n")
        again = _read_until(controller, "> ", seen)
        assert "Invalid input" in again
        os.write(controller, b"7\n")
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
        os.close(controller)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines[0]["status"] == "completed"
    assert lines[1] == {"result": 21}
    (answered,) = kitaru.executions.list_waits(lines[0]["id"])
    assert (answered.status, answered.value, answered.answered_by) == (
        "answered",
        7,
        "default",
    )


def test_a_waiting_execution_is_cancelled_at_once_and_can_be_retried(script: Path) -> None:
    started, _ = _run_script(script, "approval", "5", "0")
    execution_id = started["id"]
    assert started["status"] == "waiting"

    cancelled = run_cli("executions", "cancel", execution_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "waiting for input; it is cancelled" in cancelled.stdout
    assert kitaru.FlowHandle("approval", execution_id).status == "cancelled"
    listed = run_cli("executions", "list", "--status", "cancelled", "-o", "json")
    assert execution_id in {e["id"] for e in json.loads(listed.stdout)}
    again = run_cli("executions", "cancel", execution_id)
    assert again.returncode == 1 and "already ended: cancelled" in again.stderr
    assert _marks(script) == ["prepare"]
