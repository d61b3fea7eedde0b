"""The leak guard: secret values read in an execution never reach ZenML, logs or errors.

One module-wide secret holds a canary with characters that URL-encoding changes.
Each test asserts that its own captured output is canary-free; the last test scans
every file under the session's config directory (SQLite store, artifact store,
logs) for the canary in every encoding the guard claims to catch.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import files_containing

import kitaru
from kitaru import SecretLeakError
from kitaru._zenml.client import get_client

_SECRET = f"leak-{uuid.uuid4().hex[:10]}"
_VALUE = f"canary-{uuid.uuid4().hex}/+ =&?x"


def _b64_fragments(raw: bytes) -> set[str]:
    """The characters of ``base64(prefix + raw + suffix)`` that depend only on ``raw``,
    for each of the three byte alignments (standard and URL-safe alphabets)."""
    out = set()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + raw).decode().rstrip("=")
            start = -(-8 * offset // 6)
            end = (8 * (offset + len(raw))) // 6
            out.add(encoded[start:end])
    return out


FORMS = {
    _VALUE,
    _VALUE.split("/")[0],  # the distinctive part alone
    urllib.parse.quote(_VALUE, safe=""),
    urllib.parse.quote_plus(_VALUE),
    *_b64_fragments(_VALUE.encode()),
}


def _assert_canary_free(text: str, where: str) -> None:
    for form in FORMS:
        assert form not in text, f"secret value (form {form[:12]}...) found in {where}"


@pytest.fixture(scope="module", autouse=True)
def leak_secret() -> Iterator[None]:
    kitaru.create_secret(_SECRET, {"TOKEN": _VALUE, "USER": "leak-user"})
    yield


@pytest.fixture(autouse=True)
def output_is_canary_free(capfd: pytest.CaptureFixture[str], caplog: Any) -> Iterator[None]:
    """Whatever a test printed or logged (ZenML included) holds no secret value."""
    yield
    captured = capfd.readouterr()
    _assert_canary_free(captured.out, "stdout")
    _assert_canary_free(captured.err, "stderr")
    _assert_canary_free(caplog.text, "log records")


def _run(execution_id: str) -> Any:
    return get_client().get_pipeline_run(execution_id)


def _status(obj: Any) -> str:
    return str(getattr(obj.status, "value", obj.status))


def _token() -> str:
    value = kitaru.get_secret(_SECRET)["TOKEN"]
    assert value is not None
    return value


# --- outputs -------------------------------------------------------------------------


@dataclass
class Holder:
    label: str
    inner: list[Any]


def _shape(shape: str, v: str) -> Any:
    class LocalHolder:  # defined in a function: plain pickle refuses it
        def __init__(self, payload: Any) -> None:
            self.payload = payload

    raw = v.encode()
    shapes: dict[str, Any] = {
        "plain": v,
        "embedded": f"Authorization: Bearer {v}",
        "nested": {"a": [1, ("x", {"deep": {v}})]},
        "dict_key": {v: 1},
        "object": Holder("h", [Holder("inner", [v])]),
        "local_object": LocalHolder({"creds": [v]}),
        "closure": lambda: v,
        "bytes": b"prefix" + raw,
        "base64": base64.b64encode(raw).decode(),
        "base64_embedded": "Basic " + base64.b64encode(b"user:" + raw).decode(),
        "base64_bytes": base64.b64encode(b"xy" + raw + b"z"),
        "urlsafe_base64": base64.urlsafe_b64encode(raw).decode(),
        "url_encoded": "https://api.example.com/v1?token=" + urllib.parse.quote(v, safe=""),
        "url_query": urllib.parse.urlencode({"user": "u", "token": v}),
        "json": json.dumps({"token": v}),
    }
    return shapes[shape]


SHAPES = [
    "plain",
    "embedded",
    "nested",
    "dict_key",
    "object",
    "local_object",
    "closure",
    "bytes",
    "base64",
    "base64_embedded",
    "base64_bytes",
    "urlsafe_base64",
    "url_encoded",
    "url_query",
    "json",
]


@kitaru.checkpoint
def leaky(shape: str) -> Any:
    return _shape(shape, _token())


@kitaru.checkpoint
def safe() -> dict[str, Any]:
    # Derived facts are fine, as is a secret's other (non-secret-looking) data.
    v = _token()
    return {"length": len(v), "prefix": v[:3], "user_key_read": True}


@kitaru.flow
def leak_flow() -> dict[str, Any]:
    refused: dict[str, dict[str, Any]] = {}
    for shape in SHAPES:
        try:
            leaky(shape)
        except SecretLeakError as exc:
            refused[shape] = {
                "message": str(exc),
                "secret": exc.secret,
                "key": exc.key,
                "where": exc.where,
            }
    return {"refused": refused, "safe": safe()}


def test_checkpoint_outputs_holding_a_secret_value_are_refused_and_not_stored() -> None:
    handle = leak_flow.run()
    result = handle.wait()
    assert sorted(result["refused"]) == sorted(SHAPES), "some leak shapes were not refused"
    for i, shape in enumerate(SHAPES):
        invocation_id = "leaky" if i == 0 else f"leaky_{i + 1}"
        info = result["refused"][shape]
        assert info["secret"] == _SECRET and info["key"] == "TOKEN", shape
        assert f"checkpoint {invocation_id!r}" in info["message"], shape
        assert _SECRET in info["message"]
        _assert_canary_free(json.dumps(info), f"error for {shape}")
    assert result["safe"] == {"length": len(_VALUE), "prefix": "can", "user_key_read": True}

    # Nothing was stored for a refused output: the step failed with no artifact.
    run = _run(handle.execution_id)
    steps = {k: v for k, v in run.steps.items() if not k.startswith("kitaru_result_")}
    assert len(steps) == len(SHAPES) + 1
    for invocation_id, step_run in steps.items():
        if invocation_id == "safe":
            assert _status(step_run) == "completed"
            assert [a.load() for a in step_run.outputs["output"]] == [result["safe"]]
        else:
            assert _status(step_run) == "retrying", invocation_id  # a retry would run it again
            assert step_run.outputs == {}, invocation_id
            # ZenML records the body's error by its text (its own type is kitaru's wrapper,
            # which keeps ZenML from retrying a failed body in place).
            message = step_run.exception_info.message  # type: ignore[union-attr]
            assert message.startswith("SecretLeakError: Output of checkpoint"), invocation_id


@kitaru.flow
def returns_secret(shape: str) -> Any:
    return _shape(shape, _token())


@pytest.mark.parametrize("shape", ["plain", "nested", "base64_embedded"])
def test_a_flow_result_holding_a_secret_value_fails_the_flow(shape: str) -> None:
    handle = returns_secret.run(shape)
    assert handle.status == "failed"
    with pytest.raises(SecretLeakError) as info:
        handle.wait()
    assert info.value.where == "Result of flow 'returns_secret'"
    assert info.value.secret == _SECRET
    _assert_canary_free(str(info.value), "the flow's error")
    ex = kitaru.get_execution(handle.execution_id)
    assert ex.status == "failed" and ex.error is not None
    assert ex.error.startswith("SecretLeakError: Result of flow")


# --- exceptions ----------------------------------------------------------------------


class TokenError(Exception):
    """An exception whose message is built from an attribute (args hold no text)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def __str__(self) -> str:
        return f"token {self.token} was rejected"


@kitaru.checkpoint
def raises(kind: str) -> None:
    v = _token()
    if kind == "message":
        raise ValueError(f"upstream said: bad credential {v}")
    if kind == "attribute":
        raise TokenError(v)
    if kind == "cause":
        try:
            raise TokenError(v)
        except TokenError as exc:
            raise RuntimeError("login failed") from exc
    if kind == "encoded":
        raise PermissionError("header was Basic " + base64.b64encode(f"u:{v}".encode()).decode())
    raise AssertionError(kind)


ERROR_KINDS = ["message", "attribute", "cause", "encoded"]


@kitaru.flow
def error_flow() -> None:
    seen = []
    for kind in ERROR_KINDS:
        try:
            raises(kind)
        except Exception as exc:  # noqa: BLE001 - collecting every error
            seen.append(f"{type(exc).__name__}: {exc}")
    # What the flow body saw is redacted; then the body fails with the value itself.
    raise LookupError(f"flow gave up; errors: {seen}; token {_token()}")


def test_errors_holding_a_secret_value_are_redacted_for_caller_and_zenml() -> None:
    handle = error_flow.run()
    assert handle.status == "failed"
    with pytest.raises(LookupError) as info:
        handle.wait()
    message = str(info.value)
    _assert_canary_free(message, "the caller's error")
    assert "[REDACTED]" in message
    # What the flow body saw from each checkpoint: redacted, still informative.
    assert "ValueError: upstream said: bad credential [REDACTED]" in message
    assert "RuntimeError: TokenError: token [REDACTED] was rejected" in message
    assert "RuntimeError: login failed" in message
    assert "PermissionError: header was Basic" in message

    # What ZenML recorded: step exception info and kitaru's run metadata.
    run = _run(handle.execution_id)
    for invocation_id in ("raises", "raises_2", "raises_3", "raises_4"):
        step_run = run.steps[invocation_id]
        assert _status(step_run) == "retrying"  # a retry in place would run it again
        exc_info = step_run.exception_info
        assert exc_info is not None
        _assert_canary_free(exc_info.message, f"{invocation_id} exception message")
        _assert_canary_free(exc_info.traceback, f"{invocation_id} traceback")
    assert "[REDACTED]" in run.steps["raises"].exception_info.message
    if run.exception_info is not None:
        _assert_canary_free(run.exception_info.model_dump_json(), "run exception info")
    ex = kitaru.get_execution(handle.execution_id)
    assert ex.error is not None and ex.error.startswith("LookupError: flow gave up")
    _assert_canary_free(ex.model_dump_json(), "kitaru's execution record")
    _assert_canary_free(json.dumps(dict(run.run_metadata), default=str), "run metadata")
    for invocation_id, step_run in run.steps.items():
        text = json.dumps(dict(step_run.run_metadata), default=str)
        _assert_canary_free(text, f"{invocation_id} step metadata")


# --- canary scan (keep last) ---------------------------------------------------------


def test_no_secret_value_anywhere_in_the_config_directory(config_path: Path) -> None:
    # The flows above ran in this session; run one more leak so this test stands alone.
    assert returns_secret.run("json").status == "failed"
    names = [p.name for p in config_path.rglob("*")]
    assert any(n.endswith(".db") for n in names), "expected the SQLite store"
    assert "local_stores" in names, "expected the artifact store"
    # Every file: the SQLite store with its WAL (secret values in it are
    # encrypted), artifact store files, logs. Read in another process, as this
    # one has the database open.
    seen, hits = files_containing(config_path, sorted(FORMS))
    assert seen > 3
    assert hits == [], [(path, form[:12] + "...") for path, form in hits]
