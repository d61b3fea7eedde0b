"""``kitaru_subprocess``: runs leave ZenML's defaults alone, and a flow process that dies is seen.

One driver script (a user's process) runs flows on two ``kitaru_subprocess``
stacks: a working one, twice, and one whose interpreter exits at once, so the
flow process dies before it reports anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from conftest import run_cli

DRIVER = """
import json
import sys

import kitaru
from zenml.entrypoints import base_entrypoint_configuration as base

import crash_flows

good, dead = sys.argv[1], sys.argv[2]
out = {"before": list(base.DEFAULT_ENTRYPOINT_COMMAND), "good": []}
for _ in range(2):
    handle = crash_flows.small.run(stack=good)
    out["good"].append(handle.wait(timeout=600))
out["after"] = list(base.DEFAULT_ENTRYPOINT_COMMAND)

handle = crash_flows.small.run(stack=dead)
try:
    handle.wait(timeout=600)
    out["dead_error"] = None
except TimeoutError:
    out["dead_error"] = "timeout"
except kitaru.KitaruError as exc:
    out["dead_error"] = type(exc).__name__

from zenml.client import Client

run = Client().get_pipeline_run(handle.execution_id)
out["dead_status"] = str(run.status.value)
out["dead_end"] = run.run_metadata.get("kitaru_end")
print("RESULT " + json.dumps(out))
"""

FLOWS = """
import kitaru


@kitaru.checkpoint
def one() -> int:
    return 1


@kitaru.flow
def small() -> int:
    return one() + 1
"""


def _stack(env: dict[str, str], name: str, python: str, workdir: Path) -> None:
    created = run_cli(
        "stack", "create", name, "--orchestrator", "kitaru_subprocess",
        "--option", f"python={python}", "--option", "isolate=false",
        "--option", f"workdir={workdir}", env=env, timeout=300,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr


def test_runs_leave_zenml_defaults_alone_and_a_dead_flow_process_is_crashed(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "kitaru-config")}
    env.pop("KITARU_SOURCE_ROOT", None)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "crash_flows.py").write_text(textwrap.dedent(FLOWS))
    (proj / "driver.py").write_text(textwrap.dedent(DRIVER))
    unique = uuid.uuid4().hex[:8]
    good, dead = f"good-{unique}", f"dead-{unique}"
    _stack(env, good, sys.executable, tmp_path / "runs")
    _stack(env, dead, "/bin/false", tmp_path / "runs")

    proc = subprocess.run(
        [sys.executable, "driver.py", good, dead],
        cwd=proj, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT ") :])

    assert out["good"] == [2, 2]
    assert out["after"] == out["before"] == ["python", "-m", "zenml.entrypoints.entrypoint"]

    assert out["dead_error"] not in (None, "timeout")
    assert out["dead_status"] == "failed"
    reason = "the flow process exited with code 1 before the run ended"
    end = out["dead_end"]
    assert (end["status"], end["reason"], end["error"]) == ("crashed", reason, reason)
