"""``kitaru executions list/logs`` against a ZenML server read its REST API with httpx.

A real ZenML server on 127.0.0.1 (tests/_team_server.py); kitaru logged in to it
as a user would. Listing (completed, failed and replayed executions, ``--flow``,
``--status``) and logs (by full ID and by prefix) import no ZenML and give the
same output as ZenML's client. So does ``executions show``: the run, its steps'
records, its waits and the outputs the local artifact store holds are read over
REST; an output only ZenML can load goes through ZenML's client.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli_probe import Probed, probe
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

# What ZenML's client alone gives: the REST readers switched off.
ZENML_ONLY = """
from kitaru._zenml import run_reads, run_rest_reads
def mismatch(*_, **__):
    raise run_reads.SchemaMismatch("switched off")
for name in ("list_runs", "load_run", "ids_with_prefix", "waits_of", "first_outputs"):
    setattr(run_rest_reads, name, mismatch)
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


def _probe(env: dict[str, str], cwd: Path, commands: list[list[str]], mode: str) -> Probed:
    return probe(commands, prelude=ZENML_ONLY if mode == "zenml" else "", env=env, cwd=cwd)


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
    assert "zenml" not in fast.loaded
    assert "zenml" in slow.loaded
    assert fast.outputs == slow.outputs
    listed, of_flow, bad = (json.loads(p) for p in fast.outputs[:3])
    assert [e["id"] for e in listed] == [failed, replay, first]
    assert [e["id"] for e in of_flow] == [replay, first]
    assert of_flow[0]["replayed_from"] == first and of_flow[0]["user"] == "admin"
    assert [e["id"] for e in bad] == [failed] and bad[0]["status"] == "failed"
    logs = json.loads(fast.outputs[4])
    assert [c["checkpoint"] for c in logs][:1] == ["out"] and "printed 1" in logs[0]["output"]
    assert "== out (completed) ==" in fast.outputs[5] and "printed 1" in fast.outputs[5]


SHOWN = """
import dataclasses, json, kitaru

@dataclasses.dataclass
class Thing:
    a: int

@kitaru.checkpoint
def out(v):
    return v

@kitaru.checkpoint
def thing():
    return Thing(3)

@kitaru.checkpoint
def explode():
    raise RuntimeError("exploded on purpose")

@kitaru.flow(name="srv-show-TAG")
def ok(n: int) -> dict:
    out(n); out("s"); out({"a": [1, 2.5]}); out((1, 2)); out(b"by"); out(None)
    return {"n": n}

@kitaru.flow(name="srv-show-bad-TAG")
def bad() -> None:
    out(7)
    explode()

@kitaru.flow(name="srv-show-custom-TAG")
def custom() -> int:
    out(2)
    thing()
    return 4

@kitaru.flow(name="srv-show-wait-TAG")
def waiter() -> int:
    out(5)
    return kitaru.wait(schema=int, question="Which?", timeout=0)

ids = {}
h = ok.run(1)
h.wait()
ids["completed"] = h.execution_id
ids["failed"] = bad.run().execution_id
h = custom.run()
h.wait()
ids["custom"] = h.execution_id
ids["waiting"] = waiter.run().execution_id
print("IDS", json.dumps({k: str(v) for k, v in ids.items()}), flush=True)
""".replace("TAG", TAG)


def _shows(ids: list[str]) -> list[list[str]]:
    return [["executions", "show", i, *fmt] for i in ids for fmt in ((), ("-o", "json"))]


def test_show_on_a_server_imports_no_zenml_and_agrees_with_zenml(
    on_server: tuple[dict[str, str], Path],
) -> None:
    env, root = on_server
    (root / "shown.py").write_text(SHOWN)
    made = subprocess.run(
        [PYTHON, "shown.py"], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert made.returncode == 0, made.stderr[-3000:]
    ids = json.loads(made.stdout.split("IDS ", 1)[1])
    kinds = ["completed", "failed", "waiting"]
    commands = [*_shows([ids[k] for k in kinds]), ["executions", "show", ids["completed"][:10]]]
    fast = _probe(env, root, commands, "fast")
    slow = _probe(env, root, commands, "zenml")
    assert "zenml" not in fast.loaded
    assert fast.outputs == slow.outputs
    shown = {k: json.loads(fast.outputs[2 * i + 1]) for i, k in enumerate(kinds)}
    ok = shown["completed"]
    assert ok["status"] == "completed" and ok["result"] == {"n": 1}
    assert [(c["output"], c["output_type"]) for c in ok["checkpoints"]] == [
        (1, "int"), ("s", "str"), ({"a": [1, 2.5]}, "dict"), ([1, 2], "tuple"),
        ("b'by'", "bytes"), (None, "NoneType"),
    ]  # fmt: skip
    assert "-> (1, 2)" in fast.outputs[0] and "-> b'by'" in fast.outputs[0]
    assert shown["failed"]["status"] == "failed"
    assert shown["failed"]["checkpoints"][0]["output"] == 7
    waiting = shown["waiting"]
    assert waiting["status"] == "waiting" and waiting["checkpoints"][0]["output"] == 5
    assert [(w["question"], w["status"]) for w in waiting["waits"]] == [("Which?", "pending")]
    assert "Which?" in fast.outputs[4]
    # A dataclass only ZenML can load: ZenML's client loads it; the rest agrees.
    custom = _probe(env, root, _shows([ids["custom"]]), "fast")
    assert "zenml" in custom.loaded
    assert custom.outputs == _probe(env, root, _shows([ids["custom"]]), "zenml").outputs
    assert json.loads(custom.outputs[1])["checkpoints"][0]["output"] == 2
