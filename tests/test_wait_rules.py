"""``kitaru.wait()`` rules, in this process: where it may be called, its options, the leak
guard on question and input, and an abort nobody catches."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import run_cli

import kitaru
from kitaru import (
    ExecutionStateError,
    FlowWaitingError,
    KitaruContextError,
    KitaruValidationError,
    SecretLeakError,
    WaitAbortedError,
)

_SECRET = f"wait-{uuid.uuid4().hex[:10]}"
_VALUE = f"canary-{uuid.uuid4().hex}"


@kitaru.checkpoint
def waits_inside() -> str:
    try:
        kitaru.wait(timeout=0)
    except KitaruContextError as exc:
        return str(exc)
    return "no error"


@kitaru.flow(name="wait-rules")
def misuse() -> list[str]:
    refused = [waits_inside()]
    bad: list[dict[str, Any]] = [
        {"name": ""},
        {"timeout": -1},
        {"timeout": float("nan")},
        {"question": 3},
        {"metadata": {"when": object()}},
        {"metadata": {"kitaru_schema": 1}},
        {"schema": object()},
    ]
    for options in bad:
        try:
            kitaru.wait(**options)
        except KitaruValidationError as exc:
            refused.append(f"field:{exc.field}")
    return refused


@kitaru.checkpoint
def token_length() -> int:
    return len(kitaru.get_secret(_SECRET)["TOKEN"])


@kitaru.flow(name="wait-guarded")
def guarded() -> str:
    token_length()
    try:
        kitaru.wait(question=f"Is {kitaru.get_secret(_SECRET)['TOKEN']} right?", timeout=0)
    except SecretLeakError as exc:
        refused = exc.where
    else:
        refused = "not refused"
    answer = kitaru.wait(schema=str, name="note", timeout=0)
    return f"{refused}|{answer}"


@kitaru.flow(name="wait-gate")
def gate() -> str:
    kitaru.wait(question="Go on?", timeout=0)
    return "went on"


def test_wait_outside_a_flow_or_inside_a_checkpoint_is_a_context_error() -> None:
    with pytest.raises(KitaruContextError, match="outside a flow"):
        kitaru.wait()
    refused = misuse()
    assert "inside checkpoint 'waits_inside'" in refused[0]
    assert "Move the wait() to the flow body" in refused[0]
    assert refused[1:] == [
        "field:name",
        "field:timeout",
        "field:timeout",
        "field:question",
        "field:metadata",
        "field:metadata",
        "field:schema",
    ]


def test_leak_guard_on_question_and_input_nothing_stored() -> None:
    kitaru.create_secret(_SECRET, {"TOKEN": _VALUE})
    try:
        handle = guarded.run()
        assert handle.status == "waiting"
        with pytest.raises(FlowWaitingError) as info:
            handle.wait()
        assert info.value.waits == ("note",)
        execution_id = handle.execution_id
        with pytest.raises(SecretLeakError) as leak:
            kitaru.executions.give_input(execution_id, f"my key is {_VALUE}!")
        assert leak.value.secret == _SECRET and _VALUE not in str(leak.value)
        assert [w.status for w in kitaru.executions.list_waits(execution_id)] == ["pending"]
        cli = run_cli("executions", "input", execution_id, "--value", f'"{_VALUE}"')
        assert cli.returncode == 1 and _SECRET in cli.stderr
        assert _VALUE not in cli.stderr + cli.stdout
        assert kitaru.executions.give_input(execution_id, "fine") == "note"
        resumed = kitaru.executions.resume(execution_id)
        assert resumed.wait() == "The question or metadata of kitaru.wait()|fine"
    finally:
        kitaru.delete_secret(_SECRET)
    shown = run_cli("executions", "show", execution_id)
    assert _VALUE not in shown.stdout


def test_an_abort_nobody_catches_fails_the_execution() -> None:
    handle = gate.run()
    execution_id = handle.execution_id
    with pytest.raises(KitaruValidationError, match="gate"):
        kitaru.executions.give_input(execution_id, 5)
    assert kitaru.executions.abort_wait(execution_id) == "wait"
    with pytest.raises(ExecutionStateError) as info:
        kitaru.executions.abort_wait(execution_id)
    assert info.value.status == "waiting"
    resumed = kitaru.executions.resume(execution_id)
    assert resumed.status == "failed"
    with pytest.raises(WaitAbortedError):
        resumed.wait()
    ex = kitaru.get_execution(execution_id)
    assert ex.status == "failed"
    assert ex.error == f"WaitAbortedError: Wait 'wait' of execution {execution_id} was aborted."
    with pytest.raises(ExecutionStateError, match="is failed"):
        kitaru.executions.resume(execution_id)


@kitaru.checkpoint
def base(n: int) -> int:
    return n + 1


@kitaru.flow(name="wait-replayed")
def multiply(n: int) -> int:
    return base(n) * kitaru.wait(schema=int, question="Times?", timeout=0)


def test_a_replay_reuses_the_recorded_answer_like_a_checkpoint_output() -> None:
    first = multiply.run(2)
    assert first.status == "waiting"
    kitaru.executions.give_input(first.execution_id, 5)
    assert kitaru.executions.resume(first.execution_id).wait() == 15
    replayed = multiply.replay(first.execution_id)
    assert replayed.execution_id != first.execution_id
    assert replayed.wait() == 15  # did not stop at the wait: the answer was reused
    ex = kitaru.get_execution(replayed.execution_id)
    assert [(w.name, w.status, w.value) for w in ex.waits] == [("wait", "answered", 5)]
    assert [c.reused_from is not None for c in ex.checkpoints] == [True]
    cut = multiply.replay(first.execution_id, from_="base")  # the wait comes after the cut
    assert cut.status == "waiting"
    assert [w.status for w in kitaru.executions.list_waits(cut.execution_id)] == ["pending"]
