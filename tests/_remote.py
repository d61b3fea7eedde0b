"""Scenarios for flows on the fresh-process orchestrator (``kitaru_subprocess``).

Shared by ``test_remote_orchestrator.py`` (embedded store) and ``test_team.py``
(a real ZenML server). A caller drives each scenario as a user would: a script
that imports its flows from a project folder and runs them on the stack.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from conftest import REPO, files_containing, run_cli

FLOWS = """
import os

import kitaru

CALLER_MARK = "unset"  # the caller sets this before .run(); a fresh process must not see it


@kitaru.checkpoint
def read_token(secret: str, checkout_file: str) -> dict:
    token = kitaru.get_secret(secret)["TOKEN"]
    return {
        "token_length": len(token),
        "pid": os.getpid(),
        "caller_mark": CALLER_MARK,
        "checkout_visible": os.path.exists(checkout_file),
        "kitaru_file": kitaru.__file__,
        "cwd": os.getcwd(),
    }


@kitaru.checkpoint
def ask(alias: str, marker: str) -> str:
    return kitaru.llm(f"{marker} say hi", model=alias)


@kitaru.checkpoint
def finish(secret: str, flag: str) -> int:
    token = kitaru.get_secret(secret)["TOKEN"]
    if os.path.exists(flag):
        raise RuntimeError("planned failure before " + "finishing")
    return len(token)


@kitaru.flow
def remote_job(secret: str, alias: str, marker: str, flag: str, checkout_file: str) -> dict:
    info = read_token(secret, checkout_file)
    reply = ask(alias, marker)
    return {"info": info, "reply": reply, "finish": finish(secret, flag), "pid": os.getpid()}
"""

DRIVER = """
import json
import os
import sys

import kitaru
from kitaru._zenml import runs

import remote_flows

cfg = json.loads(sys.argv[1])
remote_flows.CALLER_MARK = "set-by-caller"
out = {"caller_pid": os.getpid()}
args = (cfg["secret"], cfg["alias"], cfg["marker"], cfg["flag"], cfg["checkout_file"])
handle = remote_flows.remote_job.run(*args, stack=cfg["stack"])
out["first"] = {"id": handle.execution_id, "status_at_submit": handle.status}
try:
    handle.wait(timeout=900)
    out["first"]["error"] = None
except kitaru.FlowFailedError as exc:
    out["first"]["error"] = {"type": type(exc).__name__, "text": str(exc),
                             "checkpoint": exc.checkpoint}
out["first"]["record"] = runs.kitaru_record(handle.execution_id)
out["first"]["status"] = handle.status
out["first"]["stack"] = kitaru.get_execution(handle.execution_id).stack

kitaru.set_secret(cfg["secret"], {"TOKEN": cfg["rotated"]})
os.remove(cfg["flag"])
again = remote_flows.remote_job.replay(handle.execution_id, stack=cfg["stack"])
out["replay"] = {"id": again.execution_id, "result": again.wait(timeout=900)}
ex = kitaru.get_execution(again.execution_id)
out["replay"]["reused"] = sorted(c.id for c in ex.checkpoints if c.reused_from)
out["replay"]["ran"] = sorted(c.id for c in ex.checkpoints if not c.reused_from)
out["replay"]["reads"] = [dict(r) for r in ex.secret_reads]
print("RESULT " + json.dumps(out))
"""

GUARD_SCRIPT = """
import json
import sys

import kitaru

TOKEN = kitaru.get_secret(sys.argv[1])["TOKEN"]  # fine in a script; refused on import


@kitaru.checkpoint
def length() -> int:
    return len("x")


@kitaru.flow
def guarded_job() -> int:
    return length()


if __name__ == "__main__":
    handle = guarded_job.run(stack=sys.argv[2])
    try:
        handle.wait(timeout=900)
        print("RESULT " + json.dumps({"error": None}))
    except kitaru.FlowFailedError as exc:
        print("RESULT " + json.dumps({"error": str(exc), "type": type(exc).__name__}))
"""


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    data: dict[str, Any] = json.loads(line[len("RESULT ") :])
    data["_stderr"] = proc.stderr
    return data


def _python(tmp: Path, env: dict[str, str], script: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return _result(proc)


def project(root: Path) -> Path:
    """A user's project folder: the flows module and the scripts that drive it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "remote_flows.py").write_text(FLOWS)
    (root / "driver.py").write_text(DRIVER)
    (root / "guard_job.py").write_text(GUARD_SCRIPT)
    return root


def create_stack(env: dict[str, str], name: str, python: Path, workdir: Path) -> None:
    """Register a kitaru_subprocess stack that hides the checkout from its runs."""
    res = run_cli(
        "stack", "create", name, "--orchestrator", "kitaru_subprocess",
        "--option", f"python={python}", "--option", f"hide={REPO}",
        "--option", f"workdir={workdir}", "--json",
        env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["name"] == name and info["orchestrator"] == "kitaru_subprocess"


def scenario(
    env: dict[str, str], proj: Path, stack: str, server_url: str, unique: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the fail/replay scenario and the import-guard script; returns both results."""
    secret, alias = f"remote-creds-{unique}", f"remote-llm-{unique}"
    first, rotated = f"canary-first-{uuid.uuid4().hex}", f"canary-rotated-{uuid.uuid4().hex}"
    ok = run_cli("secrets", "set", secret, f"--TOKEN={first}", f"--OPENAI_API_KEY={first}", env=env)
    assert ok.returncode == 0, ok.stderr
    reg = run_cli(
        "model", "register", alias, "--model", "openai/remote-test", "--secret", secret,
        "--api-base", server_url, env=env,
    )  # fmt: skip
    assert reg.returncode == 0, reg.stderr
    flag = proj / f"fail-{unique}.flag"
    flag.touch()
    cfg = {
        "secret": secret,
        "alias": alias,
        "marker": f"marker-{unique}",
        "flag": str(flag),
        "checkout_file": str(REPO / "pyproject.toml"),
        "stack": stack,
        "rotated": rotated,
    }
    run = _python(proj, env, proj / "driver.py", json.dumps(cfg))
    guard = _python(proj, {**env, "PYTHONPATH": ""}, proj / "guard_job.py", secret, stack)
    run["canaries"] = [first, rotated]
    return run, guard


def check_scenario(run: dict[str, Any], guard: dict[str, Any], fresh_python: Path) -> None:
    """What every fresh-process scenario must show, whatever the store."""
    first = run["first"]
    # Submitted, not run in the caller: .run() returned before the run ended.
    assert first["status_at_submit"] in ("initializing", "provisioning", "running")
    assert first["status"] == "failed"
    assert first["stack"].startswith("fresh-")  # the one thing that tells a remote run apart
    assert first["error"]["type"] == "FlowFailedError"
    assert "planned failure before finishing" in first["error"]["text"]
    assert first["error"]["checkpoint"] == "finish"
    # .wait() reported the checkpoints of the run elsewhere, read from the store.
    progress = run["_stderr"]
    assert "submitted to stack fresh-" in progress
    assert "checkpoint read_token completed" in progress
    assert "checkpoint finish failed" in progress
    assert not any(c in progress for c in run["canaries"])
    record = first["record"]
    # The audit and the LLM record land on the run, written by the fresh process.
    reads = {(r["secret"], r["checkpoint"]) for r in record["secret_reads"]}
    secret = next(iter(reads))[0]
    assert {c for _, c in reads} >= {"read_token", "finish"}
    assert [c["model"] for c in record["llm_calls"]] == ["openai/remote-test"]
    assert record["llm_calls"][0]["credential_source"] == "secret"

    replay = run["replay"]
    assert replay["reused"] == ["ask", "read_token"] and replay["ran"] == ["finish"]
    result = replay["result"]
    info = result["info"]
    # The rotated token (longer by 2) was read afresh by the re-run checkpoint only.
    assert result["finish"] == info["token_length"] + 2
    assert result["reply"].startswith("echo: marker-")
    # Nothing of the caller's memory, no checkout, kitaru from the wheel.
    assert result["pid"] != run["caller_pid"] and info["pid"] != run["caller_pid"]
    assert info["caller_mark"] == "unset"
    assert info["checkout_visible"] is False
    assert info["kitaru_file"].startswith(str(fresh_python.parent.parent))
    assert info["cwd"].startswith("/app")
    assert {r["secret"] for r in replay["reads"]} == {secret}

    assert guard["type"] == "FlowFailedError"
    assert "ImportTimeSecretError" in guard["error"] and "guard_job" in guard["error"]
    assert "guard_job.py:7" in guard["error"]


def scan(roots: list[Path], canaries: list[str]) -> None:
    """No canary value in any file under ``roots``."""
    for root in roots:
        files, hits = files_containing(root, canaries)
        assert files > 0 and hits == [], hits


ISOLATED_FLOWS = """
import os

import kitaru


@kitaru.checkpoint(runtime="isolated")
def isolated_read(secret: str) -> dict:
    token = kitaru.get_secret(secret)["TOKEN"]
    return {"pid": os.getpid(), "token_length": len(token)}


@kitaru.checkpoint(runtime="isolated")
def isolated_echo(value: str) -> str:
    return "got " + str(len(value))


@kitaru.checkpoint(runtime="isolated")
def isolated_boom() -> str:
    raise ValueError("isolated failure on purpose")


@kitaru.flow
def isolated_job(secret: str, fail: bool) -> dict:
    out = {"flow_pid": os.getpid(), "read": isolated_read(secret)}
    token = kitaru.get_secret(secret)["TOKEN"]
    try:
        isolated_echo(token)
        out["leak"] = None
    except kitaru.SecretLeakError as exc:
        out["leak"] = str(exc)
    if fail:
        isolated_boom()
    return out
"""

ISOLATED_DRIVER = """
import json
import sys

import kitaru
from kitaru._zenml import runs

import isolated_flows

secret, stack = sys.argv[1], sys.argv[2]
out = {}
handle = isolated_flows.isolated_job.run(secret, False, stack=stack)
out["ok"] = {"result": handle.wait(timeout=900), "record": runs.kitaru_record(handle.execution_id)}
ex = kitaru.get_execution(handle.execution_id)
out["ok"]["steps"] = sorted(c.id for c in ex.checkpoints)
failing = isolated_flows.isolated_job.run(secret, True, stack=stack)
try:
    failing.wait(timeout=900)
    out["failed"] = None
except kitaru.FlowFailedError as exc:
    out["failed"] = str(exc)
print("RESULT " + json.dumps(out))
"""


def isolated_scenario(env: dict[str, str], proj: Path, stack: str, unique: str) -> dict[str, Any]:
    """Run a flow with isolated checkpoints on ``stack``: one that completes, one that fails."""
    (proj / "isolated_flows.py").write_text(ISOLATED_FLOWS)
    (proj / "isolated_driver.py").write_text(ISOLATED_DRIVER)
    secret = f"isolated-{unique}"
    value = f"canary-iso-{uuid.uuid4().hex}"
    ok = run_cli("secrets", "set", secret, f"--TOKEN={value}", env=env)
    assert ok.returncode == 0, ok.stderr
    out = _python(proj, env, proj / "isolated_driver.py", secret, stack)
    out["canary"] = value
    out["secret"] = secret
    return out
