"""``kitaru executions list/logs`` against a ZenML server read its REST API with httpx.

A real ZenML server on 127.0.0.1 (tests/_team_server.py); kitaru logged in to it
as a user would. Listing (completed, failed and replayed executions, ``--flow``,
``--status``) and logs (by full ID and by prefix) import no ZenML and give the
same output as ZenML's client.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _team_server import ADMIN_PASSWORD, clean_env, start_server, stop_all, wait_ready
from conftest import PYTHON

TAG = uuid.uuid4().hex[:8]

SCRIPT = """
import json, kitaru

@kitaru.checkpoint
def out(v):
    print("printed", v)
    return v

@kitaru.checkpoint
def explode():
    raise RuntimeError("exploded on purpose")

@kitaru.flow(name="srv-ok-TAG")
def ok(n: int) -> int:
    return out(n)

@kitaru.flow(name="srv-bad-TAG")
def bad() -> None:
    out(1)
    explode()

first = ok.run(1)
first.wait()
again = ok.replay(first.execution_id)
again.wait()
print("IDS", json.dumps([str(first.execution_id), str(again.execution_id),
                         str(bad.run().execution_id)]), flush=True)
""".replace("TAG", TAG)

PROBE = """
import json, sys
if sys.argv[2] == "zenml":  # what ZenML's client alone gives
    from kitaru._zenml import run_reads, run_rest_reads
    def mismatch(*_, **__):
        raise run_reads.SchemaMismatch("switched off")
    for name in ("list_runs", "load_run", "ids_with_prefix"):
        setattr(run_rest_reads, name, mismatch)
from kitaru.cli import cli
for args in json.loads(sys.argv[1]):
    try:
        cli(args, standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
    print("\\x1e")
print("ZENML", "zenml" in sys.modules)
"""


@pytest.fixture(scope="module")
def on_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("server-reads")
    server = start_server(root / "server")
    try:
        wait_ready(server)
        env = clean_env(KITARU_CONFIG_PATH=str(root / "config"))
        login = subprocess.run(
            [PYTHON, "-m", "kitaru", "login", server.url, "-u", "admin", "--stdin"],
            input=ADMIN_PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr[-2000:]
        yield env, root
    finally:
        stop_all([server])


def _probe(env: dict[str, str], cwd: Path, commands: list[list[str]], mode: str) -> list[str]:
    out = subprocess.run(
        [PYTHON, "-c", PROBE, json.dumps(commands), mode],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split("\x1e\n")


def test_list_on_a_server_imports_no_zenml_and_agrees_with_zenml(
    on_server: tuple[dict[str, str], Path],
) -> None:
    env, root = on_server
    (root / "flows.py").write_text(SCRIPT)
    made = subprocess.run(
        [PYTHON, "flows.py"], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert made.returncode == 0, made.stderr[-3000:]
    first, replay, failed = json.loads(made.stdout.split("IDS ", 1)[1])
    commands = [
        ["executions", "list", "--json"],
        ["executions", "list", "--flow", f"srv-ok-{TAG}", "--json"],
        ["executions", "list", "--status", "failed", "--limit", "5", "--json"],
        ["executions", "list"],
        ["executions", "logs", failed, "--json"],
        ["executions", "logs", first[:10]],
    ]
    fast = _probe(env, root, commands, "fast")
    slow = _probe(env, root, commands, "zenml")
    assert fast[-1].strip() == "ZENML False"
    assert slow[-1].strip() == "ZENML True"
    assert fast[:-1] == slow[:-1]
    listed, of_flow, bad = (json.loads(p) for p in fast[:3])
    assert [e["id"] for e in listed] == [failed, replay, first]
    assert [e["id"] for e in of_flow] == [replay, first]
    assert of_flow[0]["replayed_from"] == first and of_flow[0]["user"] == "admin"
    assert [e["id"] for e in bad] == [failed] and bad[0]["status"] == "failed"
    logs = json.loads(fast[4])
    assert [c["checkpoint"] for c in logs][:1] == ["out"] and "printed 1" in logs[0]["output"]
    assert "== out (completed) ==" in fast[5] and "printed 1" in fast[5]
