"""`kitaru executions`: filters, unique ID prefixes, and `show` with result, outputs, LLM calls.

One flow with an LLM call (through the local OpenAI-compatible server and an
alias linked to a secret) and one failing flow run once per module, under flow
names unique to the module so that filters see only them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

import kitaru
from kitaru import AmbiguousExecutionIdError, KitaruValidationError
from kitaru.cli import cli
from kitaru.errors import ExecutionNotFoundError

TAG = uuid.uuid4().hex[:8]
OK_FLOW = f"xc-ok-{TAG}"
BAD_FLOW = f"xc-bad-{TAG}"


@kitaru.checkpoint
def numbers(n: int) -> list[int]:
    return list(range(n))


@kitaru.checkpoint
def ask(model: str) -> str:
    return kitaru.llm(f"question {TAG}", model=model)


@kitaru.checkpoint
def explode() -> None:
    print(f"about to explode {TAG}")
    raise RuntimeError("exploded on purpose")


@kitaru.flow(name=OK_FLOW)
def ok_flow(model: str) -> dict[str, Any]:
    return {"numbers": numbers(4), "answer": ask(model)}


@kitaru.flow(name=BAD_FLOW)
def bad_flow() -> None:
    numbers(1)
    explode()


@dataclass(frozen=True)
class Runs:
    ok: str
    bad: str
    model: str
    secret: str


@pytest.fixture(scope="module")
def runs(openai_server: Any) -> Runs:
    secret = f"xc-creds-{TAG}"
    kitaru.create_secret(secret, {"OPENAI_API_KEY": f"sk-{TAG}"})
    alias = f"xc-{TAG}"
    kitaru.register_model(alias, "openai/xc-model", secret=secret, api_base=openai_server.base_url)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENAI_API_KEY", raising=False)
        ok = ok_flow.run(alias)
        ok.wait()
        bad = bad_flow.run()
    assert bad.status == "failed"
    assert ok.execution_id and bad.execution_id
    return Runs(ok=ok.execution_id, bad=bad.execution_id, model=alias, secret=secret)


def cli_run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_list_filters_by_flow_and_status(runs: Runs) -> None:
    by_flow = json.loads(cli_run("executions", "list", "--flow", OK_FLOW, "--json").stdout)
    assert [i["id"] for i in by_flow] == [runs.ok]
    failed = json.loads(cli_run("executions", "list", "--status", "failed", "-o", "json").stdout)
    assert runs.bad in {i["id"] for i in failed} and runs.ok not in {i["id"] for i in failed}
    assert all(i["status"] == "failed" for i in failed)
    both = cli_run("executions", "list", "--flow", BAD_FLOW, "--status", "completed")
    assert both.exit_code == 0
    assert both.stdout.strip() == f"No executions of flow '{BAD_FLOW}' with status completed."
    none = cli_run("executions", "list", "--flow", f"never-ran-{TAG}")
    assert none.stdout.strip() == f"No executions of flow 'never-ran-{TAG}'."
    bad = cli_run("executions", "list", "--status", "sleeping")
    assert bad.exit_code == 2
    with pytest.raises(KitaruValidationError):
        kitaru.list_executions(status=3)  # type: ignore[arg-type]
    assert [e.id for e in kitaru.list_executions(flow=BAD_FLOW, status="failed")] == [runs.bad]


def test_a_unique_prefix_names_an_execution(runs: Runs) -> None:
    assert kitaru.get_execution(runs.ok[:8]).id == runs.ok
    assert kitaru.get_execution(runs.ok[:13].upper()).id == runs.ok
    shown = cli_run("executions", "show", runs.bad[:10], "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == runs.bad
    logs = cli_run("executions", "logs", runs.bad[:8], "--json")
    assert logs.exit_code == 0, logs.output
    [entry] = json.loads(logs.stdout)
    assert entry["checkpoint"] == "explode" and f"about to explode {TAG}" in entry["output"]
    with pytest.raises(ExecutionNotFoundError):
        kitaru.get_execution("0" * 8 if not runs.ok.startswith("0" * 8) else "f" * 8)


def test_an_ambiguous_prefix_lists_the_candidates(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two real executions sharing 8 characters are rare, so the minimum length is
    # lowered to 1 and executions are added until two share a first character
    # (at most 17: there are 16 hex digits).
    monkeypatch.setattr("kitaru.executions.MIN_PREFIX", 1)
    by_char: dict[str, list[str]] = {}
    for e in kitaru.list_executions(limit=1000):
        by_char.setdefault(e.id[0], []).append(e.id)
    while max(len(ids) for ids in by_char.values()) < 2:
        extra = bad_flow.run().execution_id
        assert extra is not None
        by_char.setdefault(extra[0], []).append(extra)
    char, ids = max(by_char.items(), key=lambda kv: len(kv[1]))
    with pytest.raises(AmbiguousExecutionIdError) as info:
        kitaru.get_execution(char)
    assert set(ids[:10]) <= {c[0] for c in info.value.candidates}
    shown = cli_run("executions", "show", char)
    assert shown.exit_code == 2 and shown.stdout == ""
    assert f"prefix '{char}' matches" in shown.stderr and ids[0] in shown.stderr

    monkeypatch.undo()
    short = cli_run("executions", "show", runs.ok[:5])
    assert short.exit_code == 2 and "at least 8" in short.stderr


def test_show_has_result_outputs_and_llm_calls(runs: Runs) -> None:
    ex = kitaru.get_execution(runs.ok, outputs=True)
    assert ex.result is not None and "'numbers': [0, 1, 2, 3]" in ex.result
    assert f"echo: question {TAG}" in ex.result
    outputs = {c.id: c.output for c in ex.checkpoints}
    assert outputs["numbers"] == "[0, 1, 2, 3]"
    assert outputs["ask"] == repr(f"echo: question {TAG}")
    [call] = ex.llm_calls
    assert call["alias"] == runs.model and call["model"] == "openai/xc-model"
    assert call["credential"] == f"secret:{runs.secret}"
    assert call["usage"]["prompt_tokens"] >= 2

    text = cli_run("executions", "show", runs.ok)
    assert text.exit_code == 0, text.output
    out = text.stdout
    assert "Result:" in out and "-> [0, 1, 2, 3]" in out
    assert f"{runs.model} (openai/xc-model) [ask] tokens " in out
    assert f"credential secret:{runs.secret}" in out
    assert f"sk-{TAG}" not in out

    as_json = json.loads(cli_run("executions", "show", runs.ok, "--json").stdout)
    assert as_json["llm_calls"][0]["credential"] == f"secret:{runs.secret}"
    assert as_json["result"] == {"numbers": [0, 1, 2, 3], "answer": f"echo: question {TAG}"}
    assert as_json["result_type"] == "dict"
    assert f"sk-{TAG}" not in json.dumps(as_json)


def test_show_of_a_failed_execution(runs: Runs) -> None:
    out = cli_run("executions", "show", runs.bad).stdout
    assert "exploded on purpose" in out and "LLM calls:\n  (none)" in out
    assert "-> [0]" in out


def test_an_env_var_overriding_the_linked_secret_is_said(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-env-{TAG}")
    handle = ok_flow.run(runs.model)
    handle.wait()
    assert handle.execution_id is not None
    [call] = kitaru.get_execution(handle.execution_id).llm_calls
    assert call["credential"] == "env:OPENAI_API_KEY"
    assert call["credential_overrides_secret"] == runs.secret
    out = cli_run("executions", "show", handle.execution_id).stdout
    assert f"credential env:OPENAI_API_KEY (overrides secret:{runs.secret})" in out
    assert f"sk-env-{TAG}" not in out
