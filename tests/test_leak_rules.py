"""The leak guard's matching rules (README "Leak guard").

- Every value a secret read hands out in this process, inside or outside a flow,
  is remembered for the life of the process.
- Only values of keys that were read are remembered (``.values`` and iterating
  read them all).
- Values shorter than 12 characters match only as whole tokens; shorter than 4
  never. Longer values match anywhere.
- Hex (both cases), ``%XX`` of every byte and ``\\uXXXX`` escapes are matched in
  outputs, exception text and LLM records.
- A read in a thread that a checkpoint started (pool worker, executor, plain
  thread) is audited against the running execution and its checkpoint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import kitaru
from kitaru import SecretLeakError
from kitaru.runtime import REDACTED, find_resolved_value
from kitaru.testing import LocalOpenAIServer

UID = uuid.uuid4().hex[:8]
DB = f"rules-db-{UID}"
LONG = f"pw-{uuid.uuid4().hex}"
DB_VALUES = {"PASSWORD": LONG, "PORT": "5432", "FLAG": "true", "USER": "admin", "ID": "42"}


@pytest.fixture(scope="module", autouse=True)
def db_secret() -> Iterator[None]:
    kitaru.create_secret(DB, DB_VALUES)
    yield
    kitaru.delete_secret(DB)


def _outcome(fn: Any, *args: Any) -> Any:
    """``"stored"`` if a checkpoint's output was stored, ``"refused KEY"`` if not."""
    try:
        fn(*args)
    except SecretLeakError as exc:
        return f"refused {exc.key}"
    return "stored"


# --- keys actually read; whole tokens; short values ----------------------------------


UNRELATED = [{"rows": 15432}, "it is true", "administrator", "constant", "id 42", "port: 5432"]


@kitaru.checkpoint
def reads_only_password(output: Any) -> Any:
    assert kitaru.get_secret(DB)["PASSWORD"] == LONG
    return output


@kitaru.checkpoint
def reads_port_and_user(output: Any) -> Any:
    secret = kitaru.get_secret(DB)
    assert (secret["PORT"], secret["USER"]) == ("5432", "admin")
    return output


@kitaru.flow
def false_alarm_flow() -> dict[str, Any]:
    return {
        "password_only": [_outcome(reads_only_password, out) for out in UNRELATED],
        "port_and_user": [
            _outcome(reads_port_and_user, out)
            for out in [{"rows": 15432}, "administrator", "port: 5432", {"user": "admin"}]
        ],
    }


def test_only_read_keys_are_guarded_and_short_values_match_as_whole_tokens() -> None:
    # Nothing in this process has read PORT, FLAG or USER of this secret before.
    result = false_alarm_flow.run().wait()
    # Only PASSWORD was read: the other keys' values are not remembered at all.
    assert result["password_only"] == ["stored"] * len(UNRELATED)
    # PORT and USER read: inside a longer run of letters and digits is no match,
    # the exact value as a token is.
    assert result["port_and_user"] == [
        "stored",
        "stored",
        "refused PORT",
        "refused USER",
    ]


@kitaru.checkpoint
def reads_all(how: str, output: Any) -> Any:
    secret = kitaru.get_secret(DB)
    if how == "values":
        assert secret.values["FLAG"] == "true"
    else:
        assert sorted(secret) == sorted(DB_VALUES)
    return output


@kitaru.flow
def reads_all_flow(how: str) -> list[Any]:
    return [_outcome(reads_all, how, out) for out in ["it is true", "id 42", "the 42nd"]]


@pytest.mark.parametrize("how", ["values", "iterate"])
def test_values_or_iterating_counts_as_reading_every_key(how: str) -> None:
    # FLAG ("true") is guarded once every key was read; "42" is too short to match.
    assert reads_all_flow.run(how).wait() == ["refused FLAG", "stored", "stored"]


@kitaru.checkpoint
def fails_with(text: str) -> None:
    kitaru.get_secret(DB)["USER"]
    raise ValueError(text)


@kitaru.flow
def redaction_flow() -> str:
    try:
        fails_with("administrator rights missing for admin in constant")
    except ValueError as exc:
        return str(exc)
    raise AssertionError("expected a failure")


def test_redaction_replaces_whole_tokens_only() -> None:
    text = redaction_flow.run().wait()
    assert text == f"administrator rights missing for {REDACTED} in constant"


# --- values read outside any flow ----------------------------------------------------


def test_a_value_read_outside_any_flow_is_guarded_inside_checkpoints() -> None:
    name = f"rules-api-{UID}"
    token = f"tok-{uuid.uuid4().hex}"
    kitaru.create_secret(name, {"TOKEN": token})
    try:
        # As at a script's top level: read once, outside any flow.
        top_level = kitaru.get_secret(name)["TOKEN"]

        @kitaru.checkpoint
        def headers() -> dict[str, str]:
            return {"Authorization": f"Bearer {top_level}"}

        @kitaru.flow
        def uses_top_level() -> dict[str, str]:
            return headers()

        handle = uses_top_level.run()
        assert handle.status == "failed"
        with pytest.raises(SecretLeakError) as info:
            handle.wait()
        assert (info.value.secret, info.value.key) == (name, "TOKEN")
        assert "checkpoint 'headers'" in str(info.value) and token not in str(info.value)
        # What flow.py asks before storing a flow argument.
        found = find_resolved_value({"args": [f"x{top_level}y"]})
        assert found is not None and (found.secret, found.key) == (name, "TOKEN")
        assert find_resolved_value({"args": ["unrelated"]}) is None
    finally:
        kitaru.delete_secret(name)


# --- encodings -----------------------------------------------------------------------


def _encodings(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "percent": "".join(f"%{b:02X}" for b in raw),
        "percent_lower": "".join(f"%{b:02x}" for b in raw),
        "json_u": "".join(f"\\u{ord(c):04x}" for c in value),
        "json_U": "".join(f"\\u{ord(c):04X}" for c in value),
    }


ENCODINGS = sorted(_encodings("x"))


@kitaru.checkpoint
def encoded(kind: str) -> str:
    return "data: " + _encodings(kitaru.get_secret(DB)["PASSWORD"])[kind] + " end"


@kitaru.checkpoint
def raises_encoded(kind: str) -> None:
    raise PermissionError("rejected " + _encodings(kitaru.get_secret(DB)["PASSWORD"])[kind])


@kitaru.flow
def encodings_flow() -> dict[str, Any]:
    outputs = {kind: _outcome(encoded, kind) for kind in ENCODINGS}
    errors = {}
    for kind in ENCODINGS:
        try:
            raises_encoded(kind)
        except PermissionError as exc:
            errors[kind] = str(exc)
    return {"outputs": outputs, "errors": errors}


def test_hex_percent_and_unicode_escapes_are_matched_in_outputs_and_errors() -> None:
    handle = encodings_flow.run()
    result = handle.wait()
    assert result["outputs"] == {kind: "refused PASSWORD" for kind in ENCODINGS}
    assert result["errors"] == {kind: f"rejected {REDACTED}" for kind in ENCODINGS}
    # What ZenML stored for the failed steps holds none of the encodings.
    from kitaru._zenml.client import get_client

    run = get_client().get_pipeline_run(handle.execution_id)
    stored = json.dumps(
        [s.exception_info.model_dump(mode="json") for s in run.steps.values() if s.exception_info]
    )
    assert REDACTED in stored
    for form in _encodings(LONG).values():
        assert form not in stored and json.dumps(form)[1:-1] not in stored


def test_encodings_are_redacted_in_llm_records() -> None:
    mark = f"m{uuid.uuid4().hex[:12]}"
    key = f"sk-explicit-{uuid.uuid4().hex}"
    # Answers the prompt's encoded forms back, but not as the call's output.
    server = LocalOpenAIServer(lambda body: "fine").start()

    @kitaru.flow
    def asks() -> str:
        forms = _encodings(kitaru.get_secret(DB)["PASSWORD"])
        kitaru.llm(
            f"{mark} {' '.join(forms.values())}",
            model="openai/raw-model",
            api_base=server.base_url,
            api_key=key,
            name="ask",
        )
        return "done"

    try:
        handle = asks.run()
    finally:
        server.stop()
    assert handle.wait() == "done"
    assert mark in json.dumps(server.requests[-1].body)
    from kitaru._zenml import runs

    (call,) = runs.kitaru_record(handle.execution_id)["llm_calls"]
    text = json.dumps(call)
    assert mark in text and text.count(REDACTED) >= len(ENCODINGS)
    for form in _encodings(LONG).values():
        assert form not in text and json.dumps(form)[1:-1] not in text


# --- threads started inside a checkpoint ---------------------------------------------

THREADED = f"rules-threaded-{UID}"
THREAD_KINDS = ["pool", "run_in_executor", "to_thread", "thread"]


def _read_in_thread(kind: str) -> str:
    """Read THREADED's TOKEN in a thread started here, the way ``kind`` starts one."""

    def read() -> str:
        return str(kitaru.get_secret(THREADED)["TOKEN"])

    if kind == "pool":
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(read).result()
    if kind == "run_in_executor":

        async def via_loop() -> str:
            return await asyncio.get_running_loop().run_in_executor(None, read)

        return asyncio.run(via_loop())
    if kind == "to_thread":
        return asyncio.run(asyncio.to_thread(read))
    box: list[str] = []
    thread = threading.Thread(target=lambda: box.append(read()))
    thread.start()
    thread.join()
    return box[0]


@kitaru.checkpoint
def threaded(kind: str) -> str:
    return "value: " + _read_in_thread(kind)


@kitaru.flow
def threaded_flow(kind: str) -> Any:
    return _outcome(threaded, kind)


@pytest.mark.parametrize("kind", THREAD_KINDS)
def test_reads_in_threads_started_by_a_checkpoint_are_audited_and_guarded(kind: str) -> None:
    handle = threaded_flow.run(kind)
    assert handle.wait() == "refused TOKEN"
    assert [(r.secret, r.keys, r.checkpoint) for r in handle.secret_reads] == [
        (THREADED, ("TOKEN",), "threaded")
    ]
    meta = kitaru.get_execution(handle.execution_id)
    assert [(r["secret"], r["checkpoint"]) for r in meta.secret_reads] == [(THREADED, "threaded")]


@pytest.fixture(scope="module", autouse=True)
def threaded_secret() -> Iterator[None]:
    kitaru.create_secret(THREADED, {"TOKEN": f"thr-{uuid.uuid4().hex}"})
    yield
    kitaru.delete_secret(THREADED)


@kitaru.flow(name="takes-a-token")
def takes_a_token(token: str) -> int:
    return len(token)


def test_a_flow_argument_holding_a_value_read_in_this_process_is_refused_unsent(
    unique: str,
) -> None:
    name = f"launch-{unique}"
    value = f"canary-launch-{uuid.uuid4().hex}"
    kitaru.set_secret(name, {"TOKEN": value})
    token = kitaru.get_secret(name)["TOKEN"]  # read outside any flow, as a script's top level
    before = {e.id for e in kitaru.list_executions(limit=1000)}
    with pytest.raises(kitaru.KitaruValidationError) as info:
        takes_a_token.run(f"Bearer {token}")
    assert name in str(info.value) and value not in str(info.value)
    assert {e.id for e in kitaru.list_executions(limit=1000)} == before  # nothing submitted
    with pytest.raises(kitaru.KitaruValidationError):
        takes_a_token.run(token=token)
