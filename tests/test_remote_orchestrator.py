"""Flows on an orchestrator that runs them in a fresh process (``kitaru_subprocess``).

The orchestrator starts ZenML's dynamic-pipeline entrypoint from the run's
snapshot in a new interpreter whose kitaru comes from a wheel, with a clean
environment, the code from ZenML's code archive, and (as root, in its own mount
namespace) the checkout hidden. A caller drives each scenario as a user would:
a script that imports its flows and runs them on the stack. The same scenarios
run against a real ZenML server in ``test_team.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from _fresh_venv import build_wheel, make_venv
from conftest import REPO, files_containing, run_cli

FLOWS = '''
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
'''

DRIVER = '''
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

kitaru.set_secret(cfg["secret"], {"TOKEN": cfg["rotated"]})
os.remove(cfg["flag"])
again = remote_flows.remote_job.replay(handle.execution_id, stack=cfg["stack"])
out["replay"] = {"id": again.execution_id, "result": again.wait(timeout=900)}
ex = kitaru.get_execution(again.execution_id)
out["replay"]["reused"] = sorted(c.id for c in ex.checkpoints if c.reused_from)
out["replay"]["ran"] = sorted(c.id for c in ex.checkpoints if not c.reused_from)
out["replay"]["reads"] = [dict(r) for r in ex.secret_reads]
print("RESULT " + json.dumps(out))
'''

GUARD_SCRIPT = '''
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
'''


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    data: dict[str, Any] = json.loads(line[len("RESULT ") :])
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


@pytest.fixture(scope="session")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter with kitaru installed from a wheel, outside the checkout."""
    root = tmp_path_factory.mktemp("fresh-venv")
    return make_venv(root / "venv", build_wheel(REPO, root / "wheel"))


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
    first, rotated = f"canary-first-{uuid.uuid4().hex}", f"canary-rot-{uuid.uuid4().hex}xx"
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
    assert first["error"]["type"] == "FlowFailedError"
    assert "planned failure before finishing" in first["error"]["text"]
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


def test_flow_runs_in_a_fresh_process_on_the_embedded_store(
    fresh_python: Path, openai_server: Any, tmp_path: Path
) -> None:
    config = tmp_path / "kitaru-config"
    env = {**os.environ, "KITARU_CONFIG_PATH": str(config), "KITARU_SOURCE_ROOT": ""}
    env.pop("KITARU_SOURCE_ROOT")
    proj = project(tmp_path / "proj")
    workdir = tmp_path / "runs"
    unique = uuid.uuid4().hex[:8]
    create_stack(env, f"fresh-{unique}", fresh_python, workdir)
    run, guard = scenario(env, proj, f"fresh-{unique}", openai_server.base_url, unique)
    check_scenario(run, guard, fresh_python)
    scan([config, workdir], run["canaries"])


def test_unknown_stack_or_flavor_is_refused_and_registers_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "cfg")}
    bad = run_cli("stack", "create", "x", "--orchestrator", "no_such_flavor", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("Error:") and "no_such_flavor" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    listed = run_cli("stack", "list", "--json", env=env)
    assert [s["name"] for s in json.loads(listed.stdout)] == ["default"]
    for args in (("use", "nope"), ("show", "nope")):
        res = run_cli("stack", *args, env=env)
        assert res.returncode == 2 and "Unknown stack 'nope'" in res.stderr
    current = json.loads(run_cli("stack", "current", "--json", env=env).stdout)
    assert current["name"] == "default" and current["orchestrator"] == "local"
    over = run_cli("stack", "current", env={**env, "KITARU_STACK": "nope"})
    assert over.returncode == 2 and "Unknown stack 'nope'" in over.stderr


def test_script_flow_is_refused_before_submitting_when_it_cannot_be_imported(
    tmp_path: Path, fresh_python: Path
) -> None:
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "cfg")}
    env.pop("KITARU_SOURCE_ROOT", None)
    create_stack(env, "fresh", fresh_python, tmp_path / "runs")
    script = tmp_path / "nested.py"
    script.write_text(
        textwrap.dedent(
            """
            import json
            import kitaru

            def make():
                @kitaru.flow
                def inner() -> int:
                    return 1
                return inner

            try:
                make().run(stack="fresh")
            except kitaru.KitaruValidationError as exc:
                print("RESULT " + json.dumps({"error": str(exc)}))
            try:
                make().run(object(), stack="fresh")
            except kitaru.KitaruValidationError as exc:
                print("RESULT " + json.dumps({"error": str(exc)}))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600
    )
    lines = [json.loads(ln[7:]) for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 2, out.stderr
    assert "defined inside a function" in lines[0]["error"]
    assert "kitaru_subprocess" in lines[0]["error"]
    assert "JSON" in lines[1]["error"]
    runs = run_cli("executions", "list", "--json", env=env)
    assert json.loads(runs.stdout) == []
