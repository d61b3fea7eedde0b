"""Inline checkpoints whose step runs kitaru writes itself, on the embedded store.

A fresh run's first inline checkpoint goes through ZenML; the later ones are
written by kitaru (``kitaru._zenml.lean_steps``). What ZenML and its dashboard
read must not tell the two apart: these tests compare the rows and the responses
ZenML builds from them, count ZenML's own step creations, and check failures,
interleaved submitted checkpoints, the typed records and a stack's variables.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kitaru
from kitaru._zenml.client import get_client

# Columns that differ from one step run to the next by nature.
_PER_STEP = {"id", "created", "updated", "name", "start_time", "end_time"}
_PER_FUNCTION = {"docstring", "source_code"}


@kitaru.checkpoint
def first(x: int) -> int:
    """The first step: ZenML writes it."""
    return x + 1


@kitaru.checkpoint
def later(x: int) -> dict[str, int]:
    """A later step: kitaru writes it."""
    return {"x": x, "square": x * x}


@kitaru.checkpoint
def fails(x: int) -> int:
    raise ValueError(f"fails on {x}")


@kitaru.flow
def lean_flow(n: int) -> list[Any]:
    out: list[Any] = [first(n)]
    out += [later(i) for i in range(n)]
    out.append(later.submit(100).result())  # ZenML's worker threads, between lean steps
    out.append(later(n + 1))
    try:
        fails(7)
    except ValueError as exc:
        out.append(str(exc))
    out.append(first(50))
    return out


@pytest.fixture
def zenml_step_creations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the step runs ZenML's own store call creates (it still creates them)."""
    store_class = type(get_client().zen_store)
    original = store_class.create_run_step
    created: list[str] = []

    def create_run_step(self: Any, request: Any) -> Any:
        created.append(request.name)
        return original(self, request)

    monkeypatch.setattr(store_class, "create_run_step", create_run_step)
    yield created


def _rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def _store_db(config_path: Path) -> Path:
    [db] = sorted(config_path.rglob("zenml.db"))
    return db


def test_later_steps_are_the_rows_zenml_writes(
    config_path: Path, zenml_step_creations: list[str]
) -> None:
    handle = lean_flow.run(3)
    assert handle.status == "completed", handle.error
    result = handle.wait()
    assert result[:4] == [4, {"x": 0, "square": 0}, {"x": 1, "square": 1}, {"x": 2, "square": 4}]
    assert result[4:] == [{"x": 100, "square": 10000}, {"x": 4, "square": 16}, "fails on 7", 51]

    # ZenML created only the first inline step and the submitted one.
    assert zenml_step_creations == ["first", "later_4"]

    run = get_client().get_pipeline_run(handle.execution_id)
    steps = {name: get_client().get_run_step(s.id) for name, s in run.steps.items()}
    order = ["first", "later", "later_2", "later_3", "later_4", "later_5", "fails", "first_2"]
    assert sorted(steps) == sorted(order)
    template = steps["first"]
    # Each sync step follows the previous completed sync step, as ZenML links them.
    previous = {
        "later": "first",
        "later_2": "later",
        "later_3": "later_2",
        "later_5": "later_3",
        "fails": "later_5",
        "first_2": "later_5",
    }
    for name, parent in previous.items():
        step = steps[name]
        assert step.spec.upstream_steps == [parent], name
        assert step.parent_step_ids == [steps[parent].id], name
        assert step.config == template.config, name
        assert step.spec.invocation_id == name
        assert (step.version, step.is_retriable) == (1, True)
    for name in ("later", "later_2", "later_3", "later_5"):
        step = steps[name]
        assert str(step.status.value) == "completed"
        assert step.docstring == "A later step: kitaru writes it."
        assert step.source_code is not None and "def later(x: int)" in step.source_code
        [artifact] = step.outputs["output"]
        assert artifact.name == f"lean_flow::{name}::output"
        assert artifact.load() == result[order.index(name)]
        assert step.end_time is not None and step.end_time >= step.start_time
    assert steps["first_2"].outputs["output"][0].load() == 51
    assert steps["first_2"].docstring == "The first step: ZenML writes it."

    # A failing body: published as ZenML publishes it, with the user's error and line.
    failed = steps["fails"]
    assert str(failed.status.value) == "retrying"
    assert failed.outputs == {}
    assert failed.exception_info is not None
    assert "fails on 7" in failed.exception_info.message
    assert "raise ValueError" in failed.exception_info.traceback

    # The rows themselves: the same as ZenML's for the same function, but for what
    # differs by step; the step configuration only by invocation and upstream.
    db = _store_db(config_path)
    rows = {
        r["name"]: r
        for r in _rows(db, "SELECT * FROM step_run WHERE pipeline_run_id = ?", _hex(run.id))
    }
    shared = set(rows["first"]) - _PER_STEP - {"status", "end_time", "exception_info"}
    for name in ("later", "later_2", "first_2"):
        for column in shared - _PER_FUNCTION:
            assert rows[name][column] == rows["later_4"][column], (name, column)
    for column in _PER_FUNCTION:
        assert rows["first_2"][column] == rows["first"][column]
    versions = _rows(
        db,
        "SELECT v.* FROM artifact_version v JOIN step_run_output_artifact o "
        "ON o.artifact_id = v.id WHERE o.step_id = ?",
        _hex(steps["later_2"].id),
    )
    zenml_written = _rows(
        db,
        "SELECT v.* FROM artifact_version v JOIN step_run_output_artifact o "
        "ON o.artifact_id = v.id WHERE o.step_id = ?",
        _hex(steps["later_4"].id),
    )
    assert len(versions) == len(zenml_written) == 1
    for column in set(versions[0]) - {"id", "created", "updated", "uri", "content_hash"}:
        if column != "artifact_id":
            assert versions[0][column] == zenml_written[0][column], column

    # kitaru's typed record of every call, written on each step.
    calls = {c.id: c for c in kitaru.get_execution(handle.execution_id).checkpoints}
    assert {k: c.status for k, c in calls.items()} == {
        **{name: "completed" for name in order if name != "fails"},
        "fails": "failed",
    }
    assert calls["fails"].error is not None and "fails on 7" in calls["fails"].error


def _hex(value: Any) -> str:
    return str(value).replace("-", "")


@kitaru.checkpoint
def same_name(x: int) -> int:
    return x * 3


@kitaru.flow
def repeated_flow(n: int) -> int:
    return sum(same_name(i) for i in range(n))


def test_a_second_run_adds_new_artifact_versions_under_the_same_names(
    zenml_step_creations: list[str],
) -> None:
    one = repeated_flow.run(3)
    two = repeated_flow.run(3)
    assert one.wait() == two.wait() == 9
    assert zenml_step_creations == ["same_name", "same_name"]  # each run's first
    for name in ("same_name_2", "same_name_3"):
        versions = get_client().list_artifact_versions(
            artifact=f"repeated_flow::{name}::output", sort_by="asc:created"
        )
        numbers = [int(v.version) for v in versions.items]
        assert len(numbers) >= 2 and numbers == list(range(1, len(numbers) + 1))
        assert [v.load() for v in versions.items][-2:] == [int(name[-1]) * 3 - 3] * 2


_STACK_ENV_SCRIPT = """
import json, os
import kitaru
from kitaru._zenml.client import get_client
from zenml.enums import StackComponentType

@kitaru.checkpoint
def probe(i: int) -> str | None:
    return os.environ.get("KITARU_T_STACK_VAR")

@kitaru.flow
def env_flow(n: int) -> list:
    return [probe(i) for i in range(n)]

before = env_flow(3)
client = get_client()
store = client.active_stack_model.components[StackComponentType.ARTIFACT_STORE][0]
orchestrator = client.create_stack_component(
    "env-orchestrator", "local", StackComponentType.ORCHESTRATOR, {},
    environment={"KITARU_T_STACK_VAR": "set by the stack"},
)
stack = client.create_stack(
    name="env-stack",
    components={
        StackComponentType.ORCHESTRATOR: orchestrator.id,
        StackComponentType.ARTIFACT_STORE: store.id,
    },
)
client.activate_stack(stack.id)
print(json.dumps({"before": before, "after": env_flow(3),
                  "outside": os.environ.get("KITARU_T_STACK_VAR")}))
"""


def test_every_checkpoint_sees_the_variables_its_stack_sets(
    fresh_config: Path, tmp_path: Path
) -> None:
    script = tmp_path / "stack_env.py"
    script.write_text(_STACK_ENV_SCRIPT)
    env = dict(os.environ, KITARU_CONFIG_PATH=str(fresh_config))
    env.pop("KITARU_T_STACK_VAR", None)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["before"] == [None, None, None]
    # The first checkpoint is ZenML's, the others kitaru's: all see the stack's variable.
    assert seen["after"] == ["set by the stack"] * 3
    assert seen["outside"] is None  # set for the run only


@kitaru.checkpoint
def stops_its_run(x: int) -> int:
    """Stops the run as ``zenml pipeline runs stop`` would, while this body runs."""
    from zenml.enums import ExecutionStatus
    from zenml.models import PipelineRunUpdate

    run_id = uuid.UUID(kitaru.current_execution().execution_id)
    get_client().zen_store.update_run(
        run_id=run_id, run_update=PipelineRunUpdate(status=ExecutionStatus.STOPPING)
    )
    return x * 10


@kitaru.flow
def stopped_flow() -> int:
    first(0)
    return stops_its_run(4)


def test_a_step_that_ends_while_its_run_stops_is_published_by_zenml_once(
    config_path: Path,
) -> None:
    handle = stopped_flow.run()
    run = get_client().get_pipeline_run(handle.execution_id)
    step = get_client().get_run_step(run.steps["stops_its_run"].id)
    # kitaru wrote the step and its output; ZenML, seeing the run stopping, ended it.
    assert str(step.status.value) == "completed"
    [artifact] = step.outputs["output"]
    assert artifact.load() == 40
    links = _rows(
        _store_db(config_path),
        "SELECT * FROM step_run_output_artifact WHERE step_id = ?",
        _hex(step.id),
    )
    assert len(links) == 1
