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

from _remote import check_scenario, create_stack, project, scan, scenario
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
