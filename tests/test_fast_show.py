"""``kitaru executions show`` on the embedded store needs no ZenML import.

The execution and its record are read by SQL (``run_reads``), and outputs that
ZenML's built-in materializers wrote to the local artifact store are read from
their files (``artifact_reads``). An output only ZenML can load (here a
dataclass, written by ZenML's dataclass materializer) goes through ZenML's
client, for that execution only. Either way the text and ``-o json`` are the
same as through ZenML's client alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from _cli_probe import probe
from conftest import PYTHON

from kitaru._zenml import artifact_reads

TAG = uuid.uuid4().hex[:8]

SCRIPT = """
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

@kitaru.flow(name="show-ok-TAG")
def ok(n: int) -> dict:
    out(n); out("s"); out({"a": [1, 2.5]}); out([1, "x", None]); out((1, 2)); out({"set"})
    out(b"by"); out(True); out(None); out("x" * 500)
    return {"n": n}

@kitaru.flow(name="show-bytes-TAG")
def as_bytes() -> bytes:
    out(1)
    return b"not json"

@kitaru.flow(name="show-bad-TAG")
def bad() -> None:
    out(7)
    explode()

@kitaru.flow(name="show-custom-TAG")
def custom() -> Thing:
    out(2)
    out({1: "a"})
    thing()
    return Thing(4)

@kitaru.flow(name="show-wait-TAG")
def waiter() -> int:
    out(5)
    return kitaru.wait(schema=int, question="Which?", timeout=0)

ids = {}
first = ok.run(1)
first.wait()
ids["completed"] = first.execution_id
ids["replay"] = ok.replay(first.execution_id, from_="out_3").execution_id
h = as_bytes.run()
h.wait()
ids["bytes"] = h.execution_id
ids["failed"] = bad.run().execution_id
h = custom.run()
h.wait()
ids["custom"] = h.execution_id
ids["waiting"] = waiter.run().execution_id
print("IDS", json.dumps({k: str(v) for k, v in ids.items()}), flush=True)
""".replace("TAG", TAG)

# What ZenML's client alone gives: the fast readers switched off.
ZENML_ONLY = """
from kitaru._zenml import artifact_reads, run_reads
def mismatch(*_, **__):
    raise run_reads.SchemaMismatch("switched off")
for name in ("list_runs", "load_run", "ids_with_prefix", "waits_of"):
    setattr(run_reads, name, mismatch)
artifact_reads.first_outputs = mismatch
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    where = tmp_path_factory.mktemp("show")
    (where / "shows.py").write_text(SCRIPT)
    out = subprocess.run(
        [PYTHON, "shows.py"],
        cwd=where, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    ids: dict[str, str] = json.loads(out.stdout.split("IDS ", 1)[1])
    return where, ids


def _probe(where: Path, commands: list[list[str]], mode: str) -> tuple[list[str], bool]:
    env = {**os.environ, "PYTHONPATH": str(where)}
    got = probe(commands, prelude=ZENML_ONLY if mode == "zenml" else "", env=env, cwd=where)
    return got.outputs, "zenml" in got.loaded


def _commands(ids: list[str]) -> list[list[str]]:
    return [["executions", "show", i, *fmt] for i in ids for fmt in ((), ("-o", "json"))]


def test_show_imports_no_zenml_and_agrees_with_zenml(
    made: tuple[Path, dict[str, str]],
) -> None:
    where, ids = made
    kinds = ["completed", "replay", "bytes", "failed", "waiting"]
    commands = _commands([ids[k] for k in kinds])
    commands.append(["executions", "show", ids["completed"][:10]])  # a prefix
    fast, imported = _probe(where, commands, "fast")
    assert not imported
    slow, _ = _probe(where, commands, "zenml")
    assert fast == slow
    shown = {k: json.loads(fast[2 * i + 1]) for i, k in enumerate(kinds)}
    ok = shown["completed"]
    assert ok["status"] == "completed" and ok["result"] == {"n": 1}
    outputs = [(c["output"], c["output_type"]) for c in ok["checkpoints"]]
    assert outputs[:9] == [
        (1, "int"), ("s", "str"), ({"a": [1, 2.5]}, "dict"), ([1, "x", None], "list"),
        ([1, 2], "tuple"), ("{'set'}", "set"), ("b'by'", "bytes"), (True, "bool"),
        (None, "NoneType"),
    ]  # fmt: skip
    assert "-> (1, 2)" in fast[0] and "-> {'set'}" in fast[0] and "-> b'by'" in fast[0]
    assert shown["replay"]["replayed_from"] == ids["completed"]
    replayed = shown["replay"]["checkpoints"]
    assert [c["output"] for c in replayed] == [c["output"] for c in ok["checkpoints"]]
    assert replayed[1]["reused_from"] and not replayed[2]["reused_from"]
    assert shown["bytes"]["result"] == "b'not json'"
    assert shown["bytes"]["result_type"] == "bytes"
    assert shown["failed"]["status"] == "failed"
    assert shown["failed"]["checkpoints"][0]["output"] == 7
    assert shown["waiting"]["status"] == "waiting"
    assert shown["waiting"]["checkpoints"][0]["output"] == 5


def test_an_output_only_zenml_can_load_goes_through_zenml(
    made: tuple[Path, dict[str, str]],
) -> None:
    where, ids = made
    commands = _commands([ids["custom"]])
    fast, imported = _probe(where, commands, "fast")
    assert imported  # a dict ZenML wrote key by key, a dataclass and the result
    slow, _ = _probe(where, commands, "zenml")
    assert fast == slow
    shown = json.loads(fast[1])
    assert [c["output"] for c in shown["checkpoints"]][:2] == [2, {"1": "a"}]
    assert "-> {1: 'a'}" in fast[0]
    assert shown["checkpoints"][2]["output_type"] is None  # not importable here, as with ZenML


def test_what_the_files_do_not_hold_is_left_to_zenml(tmp_path: Path) -> None:
    built_in = '{"module":"zenml.materializers.built_in_materializer","attribute":"%s"}'
    of = '{"module":"builtins","attribute":"%s"}'
    (tmp_path / "data.json").write_text('[["k"], [1]]')
    # A dict ZenML wrote as keys and values, an element-wise list, another materializer.
    load = artifact_reads.load_output
    assert load(str(tmp_path), built_in % "BuiltInContainerMaterializer", of % "dict") is (
        artifact_reads.NEEDS_ZENML
    )
    assert load(str(tmp_path / "none"), built_in % "BuiltInContainerMaterializer", of % "list") is (
        artifact_reads.NEEDS_ZENML
    )
    other = '{"module":"zenml.materializers.pydantic_materializer","attribute":"P"}'
    assert load(str(tmp_path), other, of % "dict") is artifact_reads.NEEDS_ZENML
    assert load(str(tmp_path), built_in % "BuiltInContainerMaterializer", of % "tuple") == (
        ["k"],
        [1],
    )


CRASHER = """
import os, sys, kitaru

@kitaru.checkpoint
def die() -> None:
    os._exit(3)

@kitaru.flow(name=sys.argv[1])
def crasher() -> None:
    die()

print("ID", crasher.run().execution_id, flush=True)
"""


def test_a_dead_runner_noticed_by_show_is_recorded_once(tmp_path: Path) -> None:
    (tmp_path / "crasher.py").write_text(CRASHER)
    died = subprocess.run(
        [PYTHON, "crasher.py", f"show-crash-{TAG}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert died.returncode == 3, died.stderr[-2000:]
    from kitaru._zenml import run_reads

    run_id = run_reads.list_runs(1, f"show-crash-{TAG}", ())[0].id
    commands = _commands([run_id])
    # The first reader writes the transition (through ZenML's client); later
    # reads find it recorded and need no ZenML.
    first, _ = _probe(tmp_path, commands, "fast")
    second, imported = _probe(tmp_path, commands, "fast")
    assert not imported
    slow, _ = _probe(tmp_path, commands, "zenml")
    assert first == second == slow
    shown = json.loads(second[1])
    assert shown["status"] == "crashed" and "died" in shown["error"]


def test_an_unverified_schema_loads_outputs_through_zenml(
    made: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitaru._zenml import run_lookup, run_reads, runs

    _, ids = made
    fast = run_lookup.checkpoint_outputs(ids["completed"], runs.RESULT_STEP_PREFIX)
    fast_result = runs.flow_result(ids["bytes"])
    monkeypatch.setattr(run_reads.store_access, "SCHEMA_VERSION", "0.0.1")
    with pytest.raises(run_reads.SchemaMismatch):
        artifact_reads.first_outputs({"out": ids["completed"]})
    assert run_lookup.checkpoint_outputs(ids["completed"], runs.RESULT_STEP_PREFIX) == fast
    assert fast["out_5"] == (1, 2) and fast["out_7"] == b"by"
    assert runs.flow_result(ids["bytes"]) == fast_result == b"not json"
