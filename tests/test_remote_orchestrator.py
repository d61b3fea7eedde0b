"""Flows on an orchestrator that runs them in a fresh process (``kitaru_subprocess``).

The orchestrator starts ZenML's dynamic-pipeline entrypoint from the run's
snapshot in a new interpreter whose kitaru comes from a wheel, with a clean
environment, the code from ZenML's code archive, and (as root, in its own mount
namespace) the checkout hidden. The same scenario runs against a real ZenML
server in ``test_team.py``.
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

from _remote import check_scenario, create_stack, isolated_scenario, project, scan, scenario
from conftest import run_cli


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
    assert (
        bad.returncode == 2 and bad.stderr.startswith("Error:") and "no_such_flavor" in bad.stderr
    )
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


def test_isolated_checkpoints_run_in_their_own_process_and_join_the_audit(
    fresh_python: Path, tmp_path: Path
) -> None:
    config = tmp_path / "kitaru-config"
    env = {**os.environ, "KITARU_CONFIG_PATH": str(config)}
    env.pop("KITARU_SOURCE_ROOT", None)
    proj = project(tmp_path / "proj")
    workdir = tmp_path / "runs"
    unique = uuid.uuid4().hex[:8]
    create_stack(env, f"iso-{unique}", fresh_python, workdir)
    out = isolated_scenario(env, proj, f"iso-{unique}", unique)

    result = out["ok"]["result"]
    # The isolated body ran in a process of its own, apart from the flow's process.
    assert result["read"]["pid"] != result["flow_pid"]
    assert result["read"]["token_length"] == len(out["canary"])
    # An argument holding a secret value read in the execution is refused, unsent.
    assert result["leak"] is not None and out["secret"] in result["leak"]
    assert "isolated_echo" not in out["ok"]["steps"]
    # The isolated process's read joined the execution's audit, under its checkpoint.
    reads = {(r["secret"], r["checkpoint"]) for r in out["ok"]["record"]["secret_reads"]}
    assert reads == {(out["secret"], "isolated_read"), (out["secret"], None)}
    # A failing isolated checkpoint fails the run, with its (redacted) error.
    assert out["failed"] is not None
    assert "isolated failure on purpose" in out["failed"] and "isolated_boom" in out["failed"]
    scan([config, workdir], [out["canary"]])


def test_stacks_are_created_chosen_and_shown(tmp_path: Path) -> None:
    # The caller's own ZenML settings never redirect kitaru's store or outputs.
    caller_zenml = tmp_path / "callers-zenml"
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "cfg"),
           "ZENML_CONFIG_PATH": str(caller_zenml),
           "ZENML_LOCAL_STORES_PATH": str(caller_zenml / "local_stores")}  # fmt: skip
    made = run_cli("stack", "create", "dev", "--orchestrator", "local",
                   "--artifact-store", str(tmp_path / "artifacts"), "--json", env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert info["name"] == "dev" and info["orchestrator"] == "local" and not info["active"]
    assert info["components"]["artifact_store"][0]["config"]["path"] == str(tmp_path / "artifacts")
    again = run_cli("stack", "create", "dev", "--orchestrator", "local", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    bad_option = run_cli("stack", "create", "x", "--orchestrator", "local", "--option", "oops",
                         env=env)  # fmt: skip
    assert bad_option.returncode == 2 and "KEY=VALUE" in bad_option.stderr

    assert json.loads(run_cli("stack", "current", "--json", env=env).stdout)["name"] == "default"
    over = json.loads(
        run_cli("stack", "current", "--json", env={**env, "KITARU_STACK": "dev"}).stdout
    )
    assert over["name"] == "dev" and over["source"] == "env:KITARU_STACK"
    used = run_cli("stack", "use", "dev", env=env)
    assert used.returncode == 0 and "Active stack is now 'dev'" in used.stdout
    listed = {s["name"]: s for s in json.loads(run_cli("stack", "list", "--json", env=env).stdout)}
    assert listed["dev"]["active"] and not listed["default"]["active"]
    shown = run_cli("stack", "show", "dev", env=env)
    assert "artifact_store" in shown.stdout and str(tmp_path / "artifacts") in shown.stdout

    # A flow run on the chosen stack lands its artifacts in that stack's store.
    script = tmp_path / "on_dev.py"
    script.write_text(
        textwrap.dedent(
            """
            import kitaru

            @kitaru.checkpoint
            def value() -> tuple:
                return (1, 2)

            @kitaru.flow
            def on_dev() -> tuple:
                return value()

            if __name__ == "__main__":
                handle = on_dev.run(stack="default")
                print("RESULT", handle.wait(), kitaru.get_execution(handle.execution_id).stack)
                handle = on_dev.run()
                print("RESULT", handle.wait(), kitaru.get_execution(handle.execution_id).stack)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    results = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    assert results == ["RESULT (1, 2) default", "RESULT (1, 2) dev"]
    assert any((tmp_path / "artifacts").rglob("*")), "the dev stack's artifact store is unused"
    assert not caller_zenml.exists(), "kitaru wrote into the caller's own ZenML directory"
