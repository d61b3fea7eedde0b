"""Executions from Python (``list_executions``/``get_execution``) and the CLI.

Two flows run once per module (one completes, one fails); every test reads them back.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import pytest
from click.testing import CliRunner
from conftest import run_cli

import kitaru
from kitaru import Execution, ExecutionSummary, KitaruError, KitaruValidationError
from kitaru.cli import cli
from kitaru.errors import ExecutionNotFoundError

# A fixed ID no store has: both pytest workers must collect the same tests.
MISSING_ID = "3b6f2c1e-9d4a-4e71-8c25-0f6a7d9e1b42"


@kitaru.checkpoint
def fetch(n: int) -> list[int]:
    return list(range(n))


@kitaru.checkpoint(name="summarise")
def summarise(items: list[int]) -> int:
    return sum(items)


@kitaru.checkpoint
def refuse() -> None:
    raise PermissionError("refused on purpose")


@kitaru.flow(name="exec-report")
def report(n: int) -> int:
    return summarise(fetch(n)) + summarise(fetch(n + 1))


@kitaru.flow(name="exec-broken")
def broken() -> None:
    fetch(1)
    refuse()


@dataclass(frozen=True)
class Runs:
    ok: str
    failed: str


@pytest.fixture(scope="module")
def runs() -> Runs:
    ok = report.run(3)
    assert ok.wait() == 3 + 6
    failed = broken.run()
    assert failed.status == "failed"
    assert ok.execution_id and failed.execution_id
    return Runs(ok=ok.execution_id, failed=failed.execution_id)


# --- Python API -------------------------------------------------------------------


def test_get_execution_has_status_checkpoints_and_duration(runs: Runs) -> None:
    ex = kitaru.get_execution(runs.ok)
    assert isinstance(ex, Execution)
    assert (ex.id, ex.flow, ex.status) == (runs.ok, "exec-report", "completed")
    assert ex.error is None
    assert ex.duration_s is not None and ex.duration_s > 0
    assert datetime.fromisoformat(ex.started) <= datetime.fromisoformat(ex.ended)
    assert [(c.id, c.name, c.status) for c in ex.checkpoints] == [
        ("fetch", "fetch", "completed"),
        ("summarise", "summarise", "completed"),
        ("fetch_2", "fetch", "completed"),
        ("summarise_2", "summarise", "completed"),
    ]
    assert all(c.attempts == 1 and c.duration_s is not None for c in ex.checkpoints)
    assert ex.secret_reads == ()
    assert ex.user == "default"  # the embedded store's only user


def test_failed_execution_shows_the_failed_checkpoint_and_error(runs: Runs) -> None:
    ex = kitaru.get_execution(runs.failed)
    assert (ex.flow, ex.status) == ("exec-broken", "failed")
    assert ex.error == "PermissionError: refused on purpose"
    assert [(c.id, c.status) for c in ex.checkpoints] == [
        ("fetch", "completed"),
        ("refuse", "failed"),
    ]


def test_list_executions_newest_first_with_filter_and_limit(runs: Runs) -> None:
    everything = kitaru.list_executions(limit=1000)
    assert all(isinstance(s, ExecutionSummary) for s in everything)
    ids = [s.id for s in everything]
    assert ids.index(runs.failed) < ids.index(runs.ok)  # newest first
    by_id = {s.id: s for s in everything}
    assert (by_id[runs.ok].flow, by_id[runs.ok].status) == ("exec-report", "completed")
    assert (by_id[runs.failed].flow, by_id[runs.failed].status) == ("exec-broken", "failed")

    only_report = kitaru.list_executions(flow="exec-report")
    assert {s.flow for s in only_report} == {"exec-report"}
    assert runs.ok in {s.id for s in only_report}
    assert len(kitaru.list_executions(limit=1)) == 1
    assert kitaru.list_executions(flow="no-such-flow") == []


@pytest.mark.parametrize(
    "bad_id",
    [MISSING_ID, "not-a-uuid", "", "' OR 1=1 --"],
)
def test_unknown_execution_id(bad_id: str, runs: Runs) -> None:
    with pytest.raises(ExecutionNotFoundError) as info:
        kitaru.get_execution(bad_id)
    assert isinstance(info.value, KitaruError) and isinstance(info.value, KeyError)
    assert info.value.execution_id == bad_id
    assert "kitaru executions list" in str(info.value)


@pytest.mark.parametrize("bad_id", [123, None, b"bytes-id"])
def test_execution_id_of_the_wrong_type_is_a_validation_error(bad_id: object) -> None:
    with pytest.raises(KitaruValidationError) as info:
        kitaru.get_execution(bad_id)  # type: ignore[arg-type]
    assert info.value.field == "execution_id"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"limit": True}, "limit"),
        ({"flow": 3}, "flow"),
    ],
)
def test_list_executions_checks_its_arguments(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(KitaruValidationError) as info:
        kitaru.list_executions(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_short_prefix_of_a_real_id_is_refused(runs: Runs) -> None:
    # Unique prefixes of 8+ characters work (tests/test_executions_cli.py); shorter
    # ones are refused rather than guessed.
    with pytest.raises(KitaruValidationError) as info:
        kitaru.get_execution(runs.ok[:7])
    assert "at least 8" in str(info.value)
    with pytest.raises(ExecutionNotFoundError):
        kitaru.get_execution("ffffffff" + runs.ok[8:12])


# --- CLI ----------------------------------------------------------------------------


def test_cli_list_table_and_json(runs: Runs) -> None:
    table = CliRunner().invoke(cli, ["executions", "list", "--limit", "1000"])
    assert table.exit_code == 0, table.output
    assert runs.ok in table.stdout and runs.failed in table.stdout
    assert "exec-report" in table.stdout and "completed" in table.stdout

    as_json = CliRunner().invoke(cli, ["executions", "list", "--flow", "exec-broken", "--json"])
    assert as_json.exit_code == 0, as_json.output
    items = json.loads(as_json.stdout)
    assert {i["flow"] for i in items} == {"exec-broken"}
    assert runs.failed in {i["id"] for i in items}
    assert {"id", "flow", "status", "started", "duration_s"} <= set(items[0])


def test_cli_show_text(runs: Runs) -> None:
    shown = CliRunner().invoke(cli, ["executions", "show", runs.failed])
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"Execution:  {runs.failed}" in out
    assert "Flow:       exec-broken" in out
    assert "Status:     failed" in out
    assert "Duration:" in out
    assert "Error:      PermissionError: refused on purpose" in out
    checkpoints = out.split("Checkpoints:", 1)[1].split("LLM calls:", 1)[0]
    assert [line.split()[:2] for line in checkpoints.strip().splitlines()] == [
        ["fetch", "completed"],
        ["->", "[0]"],  # its output, summarised
        ["refuse", "failed"],
    ]
    assert "(none)" in out.split("Secret reads:", 1)[1]


def test_cli_show_json(runs: Runs) -> None:
    shown = CliRunner().invoke(cli, ["executions", "show", runs.ok, "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    model = kitaru.get_execution(runs.ok, outputs=True).model_dump(mode="json")
    # The same execution; in JSON its times are ISO 8601 UTC and its result a JSON value.
    assert data["id"] == model["id"] and data["started"] == model["started"] + "Z"
    assert (data["result"], data["result_type"]) == (9, "int")
    assert [c["id"] for c in data["checkpoints"]] == [
        "fetch",
        "summarise",
        "fetch_2",
        "summarise_2",
    ]
    assert data["status"] == "completed" and data["duration_s"] > 0


def test_cli_show_unknown_id_is_one_line_error_and_nonzero_exit(runs: Runs) -> None:
    # Through the real console script, against the real store.
    missing = str(uuid.uuid4())
    proc = run_cli("executions", "show", missing)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: Execution") and missing in lines[0]

    unused_prefix = next(p for p in ("00000000", "ffffffff") if not runs.ok.startswith(p))
    for bad in ("nope", unused_prefix):
        in_process = CliRunner().invoke(cli, ["executions", "show", bad, "--json"])
        assert in_process.exit_code == 1
        assert in_process.stdout == ""
        assert in_process.stderr.strip().splitlines() == [
            f"Error: Execution {bad!r} not found. Run `kitaru executions list` to see executions."
        ]


@kitaru.checkpoint
def chatty(token_secret: str, i: int) -> int:
    import logging

    token = kitaru.get_secret(token_secret)["TOKEN"]
    print(f"working on item {i} with {token}")
    logging.getLogger("chatty").warning("item %s done", i)
    return i


@kitaru.flow(name="chatty-flow")
def chatty_flow(token_secret: str) -> int:
    print("flow body output is not a checkpoint's")
    return chatty(token_secret, 1) + chatty(token_secret, 2)


def test_logs_show_what_checkpoints_printed_redacted(unique: str, canary: str) -> None:
    import sys

    secret = f"logs-{unique}"
    kitaru.set_secret(secret, {"TOKEN": canary})
    stdout_before, stderr_before = sys.stdout, sys.stderr
    handle = chatty_flow.run(secret)
    assert handle.wait() == 3
    # The streams the caller had are back once the flow has ended.
    assert sys.stdout is stdout_before and sys.stderr is stderr_before

    res = run_cli("executions", "logs", handle.execution_id)
    assert res.returncode == 0, res.stderr
    assert "== chatty (completed) ==" in res.stdout and "== chatty_2 (completed) ==" in res.stdout
    assert "working on item 1 with [REDACTED]" in res.stdout
    assert "WARNING chatty: item 2 done" in res.stdout
    assert canary not in res.stdout + res.stderr
    assert "flow body output" not in res.stdout

    one = run_cli("executions", "logs", handle.execution_id, "--checkpoint", "chatty_2", "--json")
    data = json.loads(one.stdout)
    assert [d["checkpoint"] for d in data] == ["chatty_2"]
    assert "item 2" in data[0]["output"] and canary not in data[0]["output"]
    both = json.loads(run_cli("executions", "logs", handle.execution_id, "--checkpoint",
                              "chatty", "--json", "--follow").stdout)  # fmt: skip
    assert [d["checkpoint"] for d in both] == ["chatty", "chatty_2"]
