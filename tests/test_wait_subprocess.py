"""A wait on the fresh-process orchestrator (``kitaru_subprocess``): the flow body runs
in a process of its own, is released at the wait, and resumes in a new one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _remote import create_stack
from conftest import run_cli

FLOWS = textwrap.dedent(
    """
    from pathlib import Path

    import kitaru


    @kitaru.checkpoint
    def prepare(n: int, marks: str) -> int:
        with Path(marks).open("a") as fh:
            fh.write("prepare\\n")
        return n * 2


    @kitaru.checkpoint
    def finish(x: int, factor: int, marks: str) -> int:
        with Path(marks).open("a") as fh:
            fh.write("finish\\n")
        return x * factor


    @kitaru.flow
    def remote_approval(n: int, marks: str) -> int:
        x = prepare(n, marks)
        factor = kitaru.wait(schema=int, question="Factor?", timeout=0)
        return finish(x, factor, marks)
    """
)

DRIVER = textwrap.dedent(
    """
    import json, sys

    import kitaru
    from wait_flows import remote_approval

    handle = remote_approval.run(3, sys.argv[2], stack=sys.argv[1])
    try:
        handle.wait()
    except kitaru.FlowWaitingError as exc:
        print("RESULT " + json.dumps({"id": handle.execution_id, "waits": list(exc.waits),
                                      "status": handle.status}))
    """
)


def test_released_in_a_fresh_process_and_resumed_in_another(
    fresh_python: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "cfg")}
    env.pop("KITARU_SOURCE_ROOT", None)
    create_stack(env, "waits-fresh", fresh_python, tmp_path / "runs")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "wait_flows.py").write_text(FLOWS)
    (proj / "driver.py").write_text(DRIVER)
    marks = tmp_path / "marks.txt"
    out = subprocess.run(
        [sys.executable, str(proj / "driver.py"), "waits-fresh", str(marks)],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    execution_id = result["id"]
    assert (result["waits"], result["status"]) == (["wait"], "waiting")
    assert marks.read_text().split() == ["prepare"]

    given = run_cli("executions", "input", execution_id, "--value", "7", env=env)
    assert given.returncode == 0, given.stderr
    resumed = run_cli("executions", "resume", execution_id, "-o", "json", env=env, timeout=1200)
    assert resumed.returncode == 0, resumed.stderr
    status = json.loads(resumed.stdout)["status"]
    while status == "running":  # the orchestrator may hand the run back before it ends
        time.sleep(1)
        shown = run_cli("executions", "show", execution_id, "-o", "json", env=env)
        status = json.loads(shown.stdout)["status"]
    assert status == "completed"
    shown = json.loads(run_cli("executions", "show", execution_id, "-o", "json", env=env).stdout)
    assert shown["result"] == 42  # -o json: the result as a JSON value
    assert [(w["name"], w["status"], w["value"]) for w in shown["waits"]] == [
        ("wait", "answered", 7)
    ]
    assert marks.read_text().split() == ["prepare", "finish"]
