"""``kitaru executions list/logs`` on the embedded store need no ZenML import.

They read runs, steps and run metadata with read-only SQL on ZenML 0.98's
tables and give the same JSON as through ZenML's client; a schema kitaru has
not verified goes through ZenML's client instead.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _cli_probe import probe
from click.testing import CliRunner
from conftest import PYTHON

import kitaru
from kitaru._zenml import run_reads, runs
from kitaru.cli import cli

TAG = uuid.uuid4().hex[:8]
OK_FLOW = f"fx-ok-{TAG}"
BAD_FLOW = f"fx-bad-{TAG}"


@kitaru.checkpoint
def talk(n: int) -> int:
    print(f"talking {n} {TAG}")
    kitaru.log(step_note=n)
    return n * 2


@kitaru.checkpoint
def explode() -> None:
    print(f"about to explode {TAG}")
    raise RuntimeError("exploded on purpose")


@kitaru.flow(name=OK_FLOW)
def ok_flow() -> int:
    kitaru.log(body_note="yes")
    return talk(1) + talk(2)


@kitaru.flow(name=BAD_FLOW)
def bad_flow() -> None:
    talk(3)
    explode()


@dataclass(frozen=True)
class Runs:
    ok: str
    bad: str


@pytest.fixture(scope="module")
def made() -> Runs:
    ok = ok_flow.run()
    ok.wait()
    bad = bad_flow.run()
    assert bad.status == "failed"
    assert ok.execution_id and bad.execution_id
    return Runs(ok=str(ok.execution_id), bad=str(bad.execution_id))


def _probe(commands: list[list[str]]) -> tuple[list[str], bool]:
    got = probe(commands, timeout=180)
    return got.outputs, "zenml" in got.loaded


def _through_zenml(monkeypatch: pytest.MonkeyPatch) -> None:
    def mismatch(*_: Any, **__: Any) -> Any:
        raise run_reads.SchemaMismatch("switched off in this test")

    for name in ("list_runs", "load_run", "ids_with_prefix", "waits_of"):
        monkeypatch.setattr(run_reads, name, mismatch)


def test_list_and_logs_import_no_zenml_and_agree_with_zenml(
    made: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = [
        ["executions", "list", "--json"],
        ["executions", "list", "--flow", OK_FLOW, "--json"],
        ["executions", "list", "--status", "failed", "--limit", "5", "--json"],
        ["executions", "logs", made.ok, "--json"],
        ["executions", "logs", made.bad[:13].replace("-", ""), "--json"],
        ["executions", "logs", made.ok, "--follow"],
    ]
    parts, imported = _probe(commands)
    assert not imported
    listed, of_flow, failed, ok_logs, bad_logs = (json.loads(p) for p in parts[:5])

    assert [e["id"] for e in of_flow] == [made.ok]
    assert of_flow[0]["status"] == "completed" and of_flow[0]["flow"] == OK_FLOW
    assert made.bad in [e["id"] for e in failed]
    assert all(e["status"] == "failed" for e in failed)
    assert [c["checkpoint"] for c in ok_logs] == ["talk", "talk_2"]
    assert f"talking 2 {TAG}" in ok_logs[1]["output"]
    assert any(f"about to explode {TAG}" in c["output"] for c in bad_logs)
    assert "== talk_2 (completed) ==" in parts[5]

    # The same JSON through ZenML's client.
    _through_zenml(monkeypatch)
    for args, seen in zip(commands, (listed, of_flow, failed, ok_logs, bad_logs), strict=False):
        out = CliRunner().invoke(cli, args)
        assert out.exit_code == 0, out.output
        assert json.loads(out.output) == seen, args


def test_the_whole_record_agrees_with_zenml(made: Runs, monkeypatch: pytest.MonkeyPatch) -> None:
    script = (
        "import sys, kitaru; kitaru.executions.get_execution(sys.argv[1]); "
        "print('zenml' in sys.modules)"
    )
    out = subprocess.run(
        [PYTHON, "-c", script, made.ok], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
    fast = {run_id: runs.get_run(run_id) for run_id in (made.ok, made.bad)}
    shown = kitaru.executions.get_execution(made.bad)
    assert fast[made.ok]["metadata"] == {"body_note": "yes"}
    assert fast[made.ok]["checkpoints"][0]["metadata"] == {"step_note": 1}
    assert fast[made.bad]["error"]
    _through_zenml(monkeypatch)
    for run_id, seen in fast.items():
        assert seen == runs.get_run(run_id)
    assert shown == kitaru.executions.get_execution(made.bad)


def test_an_unverified_schema_goes_through_zenml(
    made: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = runs.list_runs(limit=5, flow=OK_FLOW)
    monkeypatch.setattr(run_reads.store_access, "SCHEMA_VERSION", "0.0.1")
    with pytest.raises(run_reads.SchemaMismatch):
        run_reads.list_runs(5, OK_FLOW, ("kitaru",))
    with pytest.raises(run_reads.SchemaMismatch):
        run_reads.load_run(made.ok)
    assert runs.list_runs(limit=5, flow=OK_FLOW) == fast
    assert runs.run_status(made.bad) == "failed"
    assert [c for c, _, _ in runs.checkpoint_logs(made.ok)] == ["talk", "talk_2"]


CRASHER = """
import os, sys, kitaru

@kitaru.checkpoint
def die() -> None:
    os._exit(3)

@kitaru.flow(name=sys.argv[1])
def crasher() -> None:
    die()

crasher.run()
"""


def test_a_dead_runner_is_recorded_crashed_once(tmp_path: Path) -> None:
    name = f"fx-crash-{TAG}"
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    died = subprocess.run(
        [PYTHON, str(script), name], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert died.returncode == 3, died.stderr[-2000:]
    # The first reader notices the dead runner and writes the transition (through
    # ZenML's client); the next reads it back from the store without ZenML.
    first, _ = _probe([["executions", "list", "--flow", name, "--json"]])
    second, imported = _probe([["executions", "list", "--flow", name, "--json"]])
    assert [e["status"] for e in json.loads(first[0])] == ["crashed"]
    assert [e["status"] for e in json.loads(second[0])] == ["crashed"]
    assert not imported
    assert runs.run_status(json.loads(second[0])[0]["id"]) == "crashed"


WAITER = """
import sys, kitaru

@kitaru.flow(name=sys.argv[1])
def waiter() -> int:
    return kitaru.wait(schema=int, question="Which?", timeout=0, metadata={"n": 1})

print("ID", waiter.run().execution_id, flush=True)
"""


def test_waits_read_by_sql_agree_with_zenml(tmp_path: Path) -> None:
    from kitaru._zenml import waits

    script = tmp_path / "waiter.py"
    script.write_text(WAITER)
    out = subprocess.run(
        [PYTHON, str(script), f"fx-wait-{TAG}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    run_id = out.stdout.split("ID ", 1)[1].split()[0]
    pending = run_reads.waits_of(run_id)
    assert [w["status"] for w in pending] == ["pending"]
    assert pending[0]["metadata"] == {"n": 1} and pending[0]["question"] == "Which?"
    assert pending == waits.waits_of(run_id)
    kitaru.executions.give_input(run_id, 7)
    answered = run_reads.waits_of(run_id)
    assert answered[0]["status"] == "answered" and answered[0]["value"] == 7
    assert answered[0]["answered_by"]
    assert answered == waits.waits_of(run_id)
