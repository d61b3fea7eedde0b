"""The warm runner (``KITARU_RUNNER=warm``, experimental): real processes, sockets and signals.

One runner for the module, on the session's store. Scripts run as real
subprocesses; their flows run in children forked by the runner, with the
script's stdout/stderr, working directory and environment.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON

import kitaru
from kitaru._run.warm import wire
from kitaru.errors import BackendError

KITARU = str(Path(sys.executable).parent / "kitaru")

SCRIPT = """
import os, sys, time
import kitaru

@kitaru.checkpoint
def look(tag: str) -> dict:
    print("printed in the checkpoint", tag, flush=True)
    time.sleep(float(os.environ.get("NAP", "0")))
    return {"cwd": os.getcwd(), "env": os.environ.get("WARM_PROBE"), "pid": os.getpid()}

@kitaru.flow
def probe(tag: str) -> dict:
    return look(tag)

def nested():
    @kitaru.flow
    def inner() -> int:
        return 1
    return inner

if __name__ == "__main__":
    handle = probe.run(sys.argv[1])
    out = handle.wait()
    out.update(caller_pid=os.getpid(), caller_zenml="zenml" in sys.modules,
               execution_id=handle.execution_id)
    if len(sys.argv) > 2:
        nested().run().wait()
        out["after_nested_zenml"] = "zenml" in sys.modules
    print("RESULT", __import__("json").dumps(out), flush=True)
"""


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KITARU, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


@pytest.fixture(scope="module")
def runner() -> Iterator[dict[str, Any]]:
    kitaru.list_secrets()  # the session's store exists
    started = _cli("runner", "start", "--json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    yield info
    _cli("runner", "stop")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{info['pid']}").exists():
        time.sleep(0.2)
    if Path(f"/proc/{info['pid']}").exists():
        os.kill(info["pid"], signal.SIGKILL)


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "warm_probe.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return path


def _result(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return dict(json.loads(line[7:]))


def test_a_flow_runs_in_a_forked_child_with_the_callers_stdio_cwd_and_env(
    runner: dict[str, Any], tmp_path: Path
) -> None:
    script = _script(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [PYTHON, str(script), "t1", "nested"],
        capture_output=True, text=True, timeout=300, cwd=work,
        env={**os.environ, "KITARU_RUNNER": "warm", "WARM_PROBE": "probe-value"},
    )  # fmt: skip
    result = _result(out)
    assert "printed in the checkpoint t1" in out.stdout  # the caller's stdout, passed as an fd
    assert result["cwd"] == str(work) and result["env"] == "probe-value"
    assert result["pid"] != result["caller_pid"]
    assert result["caller_zenml"] is False  # the caller never imported ZenML
    # A flow defined inside a function cannot be imported by path: it runs in-process.
    assert result["after_nested_zenml"] is True
    assert kitaru.get_execution(result["execution_id"]).status == "completed"
    status = json.loads(_cli("runner", "status", "--json").stdout)
    assert status["pid"] == runner["pid"] and status["runs"] >= 1


def test_the_runner_is_private_and_holds_no_database_connection(
    runner: dict[str, Any], tmp_path: Path
) -> None:
    sock = Path(runner["socket"])
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert sock.parent.stat().st_uid == os.getuid()
    fds = Path(f"/proc/{runner['pid']}/fd")
    targets = [os.readlink(fd) for fd in fds.iterdir() if fd.exists()]
    assert not [t for t in targets if "zenml.db" in t], targets
    system_python = Path("/usr/bin/python3")
    if os.getuid() == 0 and system_python.exists():  # another user cannot reach the socket
        connect = f"import socket; socket.socket(socket.AF_UNIX).connect({str(sock)!r})"
        other = subprocess.run(
            [str(system_python), "-c", connect],
            capture_output=True, text=True, timeout=60, user=65534,
        )  # fmt: skip
        assert other.returncode != 0 and "PermissionError" in other.stderr


def test_ctrl_c_reaches_the_flow_in_the_child(runner: dict[str, Any], tmp_path: Path) -> None:
    script = _script(tmp_path)
    proc = subprocess.Popen(
        [PYTHON, str(script), "sleepy"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "KITARU_RUNNER": "warm", "NAP": "60"},
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "printed in the checkpoint sleepy" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err


def test_the_runner_exits_when_idle(tmp_path: Path) -> None:
    env = {"KITARU_CONFIG_PATH": str(tmp_path / "cfg"), "KITARU_RUNNER_IDLE_S": "1"}
    started = _cli("runner", "start", "--json", **env)
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline
        and _cli("runner", "status", "--json", **env).stdout.find('"pid"') >= 0
    ):
        time.sleep(0.5)
    status = _cli("runner", "status", **env)
    assert "No warm runner is running" in status.stdout

    def gone() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
        except (FileNotFoundError, ProcessLookupError):
            return True

    while time.monotonic() < deadline and not gone():
        time.sleep(0.5)
    assert gone()  # the process ended (a zombie only until its parent, init, reaps it)


def test_wire_refuses_a_directory_of_another_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(wire.tempfile, "gettempdir", lambda: str(tmp_path))
    (tmp_path / f"kitaru-runner-{os.getuid()}").write_text("not a directory")
    with pytest.raises(BackendError):
        wire.runner_dir()
