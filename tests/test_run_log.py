"""``kitaru.log()`` on checkpoint calls and executions, and ``kitaru.current_execution_id()``."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from click.testing import CliRunner

import kitaru
from kitaru import KitaruContextError, KitaruValidationError, SecretLeakError
from kitaru.cli import cli

_SECRET = f"log-{uuid.uuid4().hex[:10]}"
_VALUE = f"canary-{uuid.uuid4().hex}"
SEEN: dict[str, Any] = {}


@kitaru.checkpoint
def fetch(n: int) -> int:
    SEEN["checkpoint_id"] = kitaru.current_execution_id()
    kitaru.log(rows=n, source="db")
    kitaru.log(rows=n * 2, pages=[1, 2])  # merges: rows replaced, source kept
    return n


@kitaru.checkpoint
def refused_logs() -> list[str]:
    refused = []
    try:
        kitaru.log(when=object())
    except KitaruValidationError as exc:
        refused.append(f"validation:{exc.field}")
    try:
        kitaru.log(token=f"Bearer {kitaru.get_secret(_SECRET)['TOKEN']}")
    except SecretLeakError as exc:
        refused.append(f"leak:{exc.secret}")
    try:
        kitaru.log(ratio=float("nan"))
    except KitaruValidationError:
        refused.append("nan")
    return refused


@kitaru.flow(name="log-flow")
def logged_flow(n: int) -> list[str]:
    SEEN["flow_id"] = kitaru.current_execution_id()
    kitaru.log(stage="start", config={"n": n})
    fetch(n)
    fetch.submit(n + 1).result()  # in a worker thread: the log still reaches its own call
    refused = refused_logs()
    kitaru.log(stage="end")
    try:
        kitaru.log(**{"bad": {1: "int key"}})
    except KitaruValidationError:
        refused.append("int-key")
    return refused


@pytest.fixture(scope="module")
def execution_id() -> str:
    kitaru.create_secret(_SECRET, {"TOKEN": _VALUE})
    try:
        handle = logged_flow.run(3)
        assert handle.wait() == [
            "validation:when",
            f"leak:{_SECRET}",
            "nan",
            "int-key",
        ]
    finally:
        kitaru.delete_secret(_SECRET)
    return handle.execution_id


def test_current_execution_id_inside_and_outside_a_flow(execution_id: str) -> None:
    assert SEEN["flow_id"] == execution_id
    assert SEEN["checkpoint_id"] == execution_id
    assert kitaru.current_execution_id() is None


def test_log_merges_on_the_checkpoint_and_the_execution(execution_id: str) -> None:
    ex = kitaru.get_execution(execution_id)
    assert ex.metadata == {"stage": "end", "config": {"n": 3}}
    by_id = {c.id: c for c in ex.checkpoints}
    assert by_id["fetch"].metadata == {"rows": 6, "source": "db", "pages": [1, 2]}
    assert by_id["fetch_2"].metadata == {"rows": 8, "source": "db", "pages": [1, 2]}
    # Every refused call stored nothing.
    assert by_id["refused_logs"].metadata == {}


def test_log_is_shown_by_the_cli_and_in_json(execution_id: str) -> None:
    shown = CliRunner().invoke(cli, ["executions", "show", execution_id])
    assert shown.exit_code == 0, shown.output
    assert 'Metadata:   {"config": {"n": 3}, "stage": "end"}' in shown.output
    assert 'metadata: {"pages": [1, 2], "rows": 6, "source": "db"}' in shown.output
    assert _VALUE not in shown.output
    as_json = CliRunner().invoke(cli, ["executions", "show", execution_id, "-o", "json"])
    data = json.loads(as_json.output)
    assert data["metadata"] == {"stage": "end", "config": {"n": 3}}
    assert [c["metadata"] for c in data["checkpoints"] if c["id"] == "fetch"] == [
        {"rows": 6, "source": "db", "pages": [1, 2]}
    ]


def test_log_outside_a_flow_is_a_context_error() -> None:
    with pytest.raises(KitaruContextError, match="outside a flow"):
        kitaru.log(x=1)


def test_executions_module_is_reachable_after_a_plain_import() -> None:
    code = (
        "import sys, kitaru\n"
        "assert 'zenml' not in sys.modules\n"
        "print(kitaru.executions.get_execution.__name__, 'executions' in dir(kitaru))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "get_execution True"
