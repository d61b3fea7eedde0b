"""kitaru.llm() / kitaru.allm() against a real local OpenAI-compatible server.

litellm really calls the server over HTTP; the server records each request's
headers and body, so the tests check what a provider would have received: the
bearer token, the model, the messages and the options. Each call carries a
unique marker in its prompt, by which its request is found.

Aliases and secrets are created once for the module (unique names) and removed
at the end, so the shared registry is left as it was. The last test runs an LLM
flow with its output captured and scans everything under KITARU_CONFIG_PATH for
the credentials used here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import kitaru
from kitaru.errors import (
    ImportTimeSecretError,
    KitaruError,
    KitaruValidationError,
    LLMCallError,
    LLMSetupError,
    ModelNotFoundError,
)
from kitaru.testing import LocalOpenAIServer, RecordedRequest

UID = uuid.uuid4().hex[:8]

# Reads every file under a directory; reports which ones hold any of the byte
# patterns (hex, one per line on stdin). Never prints a pattern.
_SCAN_SCRIPT = """
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
patterns = [bytes.fromhex(line) for line in sys.stdin.read().split()]
found, names = [], []
for path in sorted(root.rglob("*")):
    try:
        if not path.is_file():
            continue
        data = path.read_bytes()
    except FileNotFoundError:  # a temporary file that went away
        continue
    names.append(str(path))
    found += [[str(path), i] for i, p in enumerate(patterns) if p in data]
print(json.dumps({"files": len(names), "names": names, "found": found}))
"""
ENV_KEY = f"sk-canary-env-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Setup:
    server: LocalOpenAIServer
    key_a: str
    key_b: str
    secret_a: str
    secret_b: str
    secret_other: str
    alias_a: str  # openai/demo (no price known), linked to secret_a
    alias_b: str  # openai/gpt-4o-mini (price known), linked to secret_b
    alias_nokey: str  # linked to a secret without OPENAI_API_KEY
    alias_plain: str  # no linked secret

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key_a, self.key_b, ENV_KEY)


@pytest.fixture(scope="module")
def setup(openai_server: LocalOpenAIServer) -> Iterator[Setup]:
    s = Setup(
        server=openai_server,
        key_a=f"sk-canary-a-{uuid.uuid4().hex}",
        key_b=f"sk-canary-b-{uuid.uuid4().hex}",
        secret_a=f"llm-creds-a-{UID}",
        secret_b=f"llm-creds-b-{UID}",
        secret_other=f"llm-creds-other-{UID}",
        alias_a=f"llm-a-{UID}",
        alias_b=f"llm-b-{UID}",
        alias_nokey=f"llm-nokey-{UID}",
        alias_plain=f"llm-plain-{UID}",
    )
    kitaru.create_secret(s.secret_a, {"OPENAI_API_KEY": s.key_a})
    kitaru.create_secret(s.secret_b, {"OPENAI_API_KEY": s.key_b})
    kitaru.create_secret(s.secret_other, {"SOMETHING_ELSE": f"other-{uuid.uuid4().hex}"})
    base = openai_server.base_url
    kitaru.register_model(s.alias_a, "openai/demo", secret=s.secret_a, api_base=base)
    kitaru.register_model(s.alias_b, "openai/gpt-4o-mini", secret=s.secret_b, api_base=base)
    kitaru.register_model(s.alias_nokey, "openai/demo", secret=s.secret_other, api_base=base)
    kitaru.register_model(s.alias_plain, "openai/demo", api_base=base)
    try:
        yield s
    finally:
        for alias in (s.alias_a, s.alias_b, s.alias_nokey, s.alias_plain):
            with contextlib.suppress(ModelNotFoundError):
                kitaru.remove_model(alias)
        for secret in (s.secret_a, s.secret_b, s.secret_other):
            with contextlib.suppress(KitaruError):
                kitaru.delete_secret(secret)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "KITARU_DEFAULT_MODEL", "KITARU_MODEL_REGISTRY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server(setup: Setup) -> Iterator[LocalOpenAIServer]:
    srv = setup.server
    srv.fail_next = 0
    srv.fail_status = 500
    srv.fail_message = "injected failure"
    yield srv
    srv.fail_next = 0
    srv.fail_message = "injected failure"


def marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def requests_with(server: LocalOpenAIServer, mark: str) -> list[RecordedRequest]:
    """The chat requests whose messages contain ``mark``."""
    return [
        r
        for r in list(server.requests)
        if r.path.endswith("/chat/completions") and mark in json.dumps(r.body.get("messages"))
    ]


def only_request(server: LocalOpenAIServer, mark: str) -> RecordedRequest:
    found = requests_with(server, mark)
    assert len(found) == 1, found
    return found[0]


def kitaru_metadata(execution_id: str) -> dict[str, Any]:
    """kitaru's record of a run, folded from what its steps and its runner stored."""
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import runs

    meta = runs.kitaru_record(execution_id)
    assert isinstance(meta, dict) and not meta.get("legacy")
    return meta


def usage_for(prompt_words: int, response: str) -> dict[str, int]:
    completion = len(response.split())
    return {
        "prompt_tokens": prompt_words,
        "completion_tokens": completion,
        "total_tokens": prompt_words + completion,
    }


# ---------------------------------------------------------------- outside a flow


def test_linked_secret_key_arrives_as_the_bearer_token(setup: Setup, server: Any) -> None:
    before = [e.id for e in kitaru.list_executions(limit=1)]
    mark = marker()
    assert kitaru.llm(f"hello {mark}", model=setup.alias_a) == f"echo: hello {mark}"
    req = only_request(server, mark)
    assert req.bearer_token == setup.key_a
    assert req.body["model"] == "demo"
    assert req.body["messages"] == [{"role": "user", "content": f"hello {mark}"}]
    assert "temperature" not in req.body and "max_tokens" not in req.body
    assert "OPENAI_API_KEY" not in os.environ
    # Untracked outside a flow: no execution was created.
    assert [e.id for e in kitaru.list_executions(limit=1)] == before


def test_exported_key_wins_and_the_secret_is_not_read(
    setup: Setup, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitaru._store import secret_store

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the linked secret must not be read")

    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setattr(secret_store, "get_secret", refuse)
    mark = marker()
    assert kitaru.llm(mark, model=setup.alias_a) == f"echo: {mark}"
    assert only_request(server, mark).bearer_token == ENV_KEY


def test_no_credentials_is_a_setup_error_and_nothing_is_sent(setup: Setup, server: Any) -> None:
    mark = marker()
    with pytest.raises(LLMSetupError) as info:
        kitaru.llm(mark, model=setup.alias_plain)
    text = str(info.value)
    assert "OPENAI_API_KEY" in text and setup.alias_plain in text
    assert "kitaru secrets set" in text and "--secret" in text
    assert isinstance(info.value, KitaruError)
    assert info.value.missing == ("OPENAI_API_KEY",) and info.value.secret is None

    with pytest.raises(LLMSetupError) as info:
        kitaru.llm(mark, model="openai/raw-model", api_base=server.base_url)
    assert "OPENAI_API_KEY" in str(info.value) and "openai/raw-model" in str(info.value)

    # A linked secret without the variable: the error names both.
    with pytest.raises(LLMSetupError) as info:
        kitaru.llm(mark, model=setup.alias_nokey)
    assert setup.secret_other in str(info.value) and "OPENAI_API_KEY" in str(info.value)
    assert info.value.secret == setup.secret_other and info.value.missing == ("OPENAI_API_KEY",)

    assert requests_with(server, mark) == []


def test_raw_model_string_with_api_base_option(
    setup: Setup, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    mark = marker()
    out = kitaru.llm(mark, model="openai/raw-model", api_base=server.base_url)
    assert out == f"echo: {mark}"
    req = only_request(server, mark)
    assert req.body["model"] == "raw-model"
    assert req.bearer_token == ENV_KEY


def test_explicit_api_key_option_needs_no_environment(setup: Setup, server: Any) -> None:
    mark = marker()
    explicit = f"sk-explicit-{uuid.uuid4().hex}"
    out = kitaru.llm(mark, model="openai/raw-model", api_base=server.base_url, api_key=explicit)
    assert out == f"echo: {mark}"
    assert only_request(server, mark).bearer_token == explicit
    # An explicit key also beats the linked secret.
    mark = marker()
    kitaru.llm(mark, model=setup.alias_a, api_key=explicit)
    assert only_request(server, mark).bearer_token == explicit


def test_default_model_variable_alias_and_raw(
    setup: Setup, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITARU_DEFAULT_MODEL", setup.alias_b)
    mark = marker()
    kitaru.llm(mark)
    req = only_request(server, mark)
    assert (req.bearer_token, req.body["model"]) == (setup.key_b, "gpt-4o-mini")

    # model= beats the variable.
    mark = marker()
    kitaru.llm(mark, model=setup.alias_a)
    req = only_request(server, mark)
    assert (req.bearer_token, req.body["model"]) == (setup.key_a, "demo")

    monkeypatch.setenv("KITARU_DEFAULT_MODEL", "openai/from-env-var")
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    mark = marker()
    kitaru.llm(mark, api_base=server.base_url)
    req = only_request(server, mark)
    assert (req.bearer_token, req.body["model"]) == (ENV_KEY, "from-env-var")

    monkeypatch.setenv("KITARU_DEFAULT_MODEL", f"not-an-alias-{UID}")
    mark = marker()
    with pytest.raises(LLMSetupError) as info:
        kitaru.llm(mark)
    assert "KITARU_DEFAULT_MODEL" in str(info.value) and f"not-an-alias-{UID}" in str(info.value)
    assert requests_with(server, mark) == []


def test_default_alias_and_environment_registry(
    setup: Setup, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "KITARU_MODEL_REGISTRY", json.dumps({"aliases": {}, "default": setup.alias_b})
    )
    mark = marker()
    kitaru.llm(mark)
    assert only_request(server, mark).bearer_token == setup.key_b

    # An alias that exists only in the variable, linked to secret A.
    env_alias = f"env-only-{UID}"
    monkeypatch.setenv(
        "KITARU_MODEL_REGISTRY",
        json.dumps(
            {
                env_alias: {
                    "model": "openai/env-model",
                    "secret": setup.secret_a,
                    "api_base": server.base_url,
                }
            }
        ),
    )
    mark = marker()
    kitaru.llm(mark, model=env_alias)
    req = only_request(server, mark)
    assert (req.bearer_token, req.body["model"]) == (setup.key_a, "env-model")
    assert (
        env_alias
        not in json.loads((Path(os.environ["KITARU_CONFIG_PATH"]) / "models.json").read_text())[
            "aliases"
        ]
    )


def test_no_model_at_all_explains_how_to_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Any
) -> None:
    monkeypatch.setenv("KITARU_CONFIG_PATH", str(tmp_path / "no-models"))
    mark = marker()
    with pytest.raises(LLMSetupError) as info:
        kitaru.llm(mark)
    text = str(info.value)
    assert "kitaru model register" in text and "KITARU_DEFAULT_MODEL" in text
    assert requests_with(server, mark) == []


def test_message_lists_and_system(setup: Setup, server: Any) -> None:
    mark = marker()
    messages = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": f"second {mark}"},
    ]
    out = kitaru.llm(messages, model=setup.alias_a, system="be brief")
    assert out == f"echo: second {mark}"
    assert only_request(server, mark).body["messages"] == [
        {"role": "system", "content": "be brief"},
        *messages,
    ]
    assert messages[0] == {"role": "user", "content": "first question"}  # not modified

    mark = marker()
    kitaru.llm(mark, model=setup.alias_a, system="sys prompt")
    assert only_request(server, mark).body["messages"] == [
        {"role": "system", "content": "sys prompt"},
        {"role": "user", "content": mark},
    ]


@pytest.mark.parametrize(
    ("prompt", "options"),
    [
        ("", {}),
        ([], {}),
        ({"role": "user", "content": "a dict, not a list"}, {}),
        ([{"role": "user"}], {}),
        ([{"content": "no role"}], {}),
        (["just a string in a list"], {}),
        ([{"role": "wizard", "content": "x"}], {}),
        ([{"role": ["user"], "content": "x"}], {}),
        ([{"role": "user", "content": 42}], {}),
        ([{"role": "user", "content": None}], {}),
        (42, {}),
        (b"bytes", {}),
        ("ok", {"system": 5}),
        ("ok", {"temperature": "hot"}),
        ("ok", {"temperature": True}),
        ("ok", {"max_tokens": 0}),
        ("ok", {"max_tokens": 2.5}),
        ("ok", {"name": "has space"}),
        ("ok", {"name": ""}),
        ("ok", {"model": ""}),
    ],
)
def test_invalid_input_is_a_validation_error_and_nothing_is_sent(
    setup: Setup, server: Any, prompt: Any, options: dict[str, Any]
) -> None:
    before = len(server.requests)
    with pytest.raises(KitaruValidationError):
        kitaru.llm(prompt, **{"model": setup.alias_a, **options})
    assert len(server.requests) == before


def test_temperature_max_tokens_and_provider_options_pass_through(
    setup: Setup, server: Any
) -> None:
    mark = marker()
    kitaru.llm(mark, model=setup.alias_a, temperature=0.25, max_tokens=7, top_p=0.5, seed=3)
    body = only_request(server, mark).body
    assert body["temperature"] == 0.25
    assert body["max_tokens"] == 7
    assert body["top_p"] == 0.5
    assert body["seed"] == 3


def test_provider_error_is_llm_call_error_with_the_key_redacted(setup: Setup, server: Any) -> None:
    server.fail_next = 5
    # Like a provider quoting a rejected key back in its error.
    server.fail_message = "Incorrect API key provided: {bearer}"
    mark = marker()
    with pytest.raises(LLMCallError) as info:
        kitaru.llm(mark, model=setup.alias_a, num_retries=0, max_retries=0)
    err = info.value
    assert isinstance(err, KitaruError)
    # The server did get the key, so the provider's text contained it.
    assert [r.bearer_token for r in requests_with(server, mark)] == [setup.key_a]
    for text in (str(err), err.provider_error, repr(err)):
        assert setup.key_a not in text
    assert "[REDACTED]" in str(err) and "Incorrect API key provided" in str(err)
    assert err.model == "openai/demo"
    # The provider's exception (which may carry the request) is not chained.
    assert err.__cause__ is None and err.__context__ is None


def test_allm_outside_a_flow(setup: Setup, server: Any) -> None:
    mark = marker()
    out = asyncio.run(kitaru.allm(mark, model=setup.alias_b, system="async", max_tokens=9))
    assert out == f"echo: {mark}"
    req = only_request(server, mark)
    assert req.bearer_token == setup.key_b
    assert req.body["messages"][0] == {"role": "system", "content": "async"}
    assert req.body["max_tokens"] == 9

    server.fail_next = 3
    server.fail_message = "bad key {bearer}"
    with pytest.raises(LLMCallError) as info:
        asyncio.run(kitaru.allm(marker(), model=setup.alias_b, num_retries=0, max_retries=0))
    assert setup.key_b not in str(info.value) and "[REDACTED]" in str(info.value)


def test_parallel_calls_keep_their_own_credentials(
    setup: Setup, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[tuple[str, str]] = []
    original = os._Environ.__setitem__

    def recording_setitem(self: Any, key: Any, value: Any) -> None:
        writes.append((str(key), str(value)))
        original(self, key, value)

    monkeypatch.setattr(os._Environ, "__setitem__", recording_setitem)
    results: dict[str, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(alias: str, tag: str) -> None:
        try:
            barrier.wait()
            for i in range(10):
                mark = f"{tag}-{i}-{marker()}"
                results[mark] = alias
                kitaru.llm(mark, model=alias)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(setup.alias_a, "A")),
        threading.Thread(target=worker, args=(setup.alias_b, "B")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 20
    expected = {setup.alias_a: setup.key_a, setup.alias_b: setup.key_b}
    for mark, alias in results.items():
        assert only_request(server, mark).bearer_token == expected[alias], mark
    assert "OPENAI_API_KEY" not in os.environ
    assert [k for k, _ in writes if k == "OPENAI_API_KEY"] == []
    assert [k for k, v in writes if any(key in v for key in setup.keys)] == []


def test_linked_secret_read_at_import_time_is_refused(
    setup: Setup, server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = marker()
    module = f"llm_at_import_{UID}"
    (tmp_path / f"{module}.py").write_text(
        f"import kitaru\nANSWER = kitaru.llm({mark!r}, model={setup.alias_a!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ImportTimeSecretError) as info:
            __import__(module)
    finally:
        sys.modules.pop(module, None)
    assert info.value.secret == setup.secret_a
    assert info.value.module == module
    assert requests_with(server, mark) == []


# ---------------------------------------------------------------- in flows


def test_calls_are_tracked_in_checkpoints_and_as_their_own_boundary(
    setup: Setup, server: Any
) -> None:
    mark = marker()

    @kitaru.checkpoint
    def ask(m: str) -> list[Any]:
        first = kitaru.llm(f"alpha beta {m}", model=setup.alias_a)
        key = kitaru.get_secret(setup.secret_a)["OPENAI_API_KEY"]
        leaky = kitaru.llm(f"the key is {key} {m}-leak", model=setup.alias_a)
        return [first, len(leaky)]

    @kitaru.flow
    def tracked(m: str) -> tuple[Any, str, str]:
        first = ask(m)
        summary = kitaru.llm(f"summarize {m}-sum", model=setup.alias_b, name="summary")
        plain = kitaru.llm(f"plain {m}-plain", model=setup.alias_a, temperature=0)
        return first, summary, plain

    handle = tracked.run(mark)
    first, summary, plain = handle.wait()
    assert first[0] == f"echo: alpha beta {mark}"
    assert summary == f"echo: summarize {mark}-sum"
    assert plain == f"echo: plain {mark}-plain"

    execution = kitaru.get_execution(handle.execution_id)
    assert execution.status == "completed"
    assert {c.id: c.status for c in execution.checkpoints} == {
        "ask": "completed",
        "llm_summary": "completed",
        "llm": "completed",
    }

    # Credentials reached the server per alias.
    assert only_request(server, f"beta {mark}").bearer_token == setup.key_a
    assert only_request(server, f"{mark}-leak").bearer_token == setup.key_a
    assert only_request(server, f"{mark}-sum").bearer_token == setup.key_b
    assert only_request(server, f"{mark}-plain").bearer_token == setup.key_a

    meta = kitaru_metadata(handle.execution_id)
    calls = meta["llm_calls"]
    assert [c["checkpoint"] for c in calls] == ["ask", "ask", "llm_summary", "llm"]
    one, leak, summ, body = calls

    assert one["prompt"] == [{"role": "user", "content": f"alpha beta {mark}"}]
    assert one["response"] == f"echo: alpha beta {mark}"
    assert one["usage"] == usage_for(3, one["response"])
    assert (one["model"], one["alias"], one["name"]) == ("openai/demo", setup.alias_a, None)
    assert one["credential_source"] == "secret"
    assert isinstance(one["latency_s"], float) and one["latency_s"] >= 0
    assert one["cost_usd"] is None  # no price known for openai/demo

    # A secret value in a prompt (and so in the echoed response) is redacted.
    assert leak["prompt"][0]["content"] == f"the key is [REDACTED] {mark}-leak"
    assert leak["response"] == f"echo: the key is [REDACTED] {mark}-leak"

    assert (summ["name"], summ["alias"], summ["model"]) == (
        "summary",
        setup.alias_b,
        "openai/gpt-4o-mini",
    )
    assert summ["usage"] == usage_for(2, summary)
    assert isinstance(summ["cost_usd"], float) and summ["cost_usd"] > 0
    assert body["usage"]["prompt_tokens"] == 2 and body["credential_source"] == "secret"

    # The linked secrets' reads are audited, attributed to the call's checkpoint.
    reads = {(r["secret"], tuple(r["keys"]), r["checkpoint"]) for r in execution.secret_reads}
    assert (setup.secret_b, ("OPENAI_API_KEY",), "llm_summary") in reads
    assert (setup.secret_a, ("OPENAI_API_KEY",), "llm") in reads
    assert (setup.secret_a, ("OPENAI_API_KEY",), "ask") in reads
    assert {(r.secret, r.keys) for r in handle.secret_reads} >= {
        (setup.secret_a, ("OPENAI_API_KEY",)),
        (setup.secret_b, ("OPENAI_API_KEY",)),
    }
    assert setup.key_a not in json.dumps(meta) and setup.key_b not in json.dumps(meta)


def test_exported_key_in_a_flow_reads_no_secret(
    setup: Setup, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    mark = marker()

    @kitaru.checkpoint
    def inner(m: str) -> str:
        return kitaru.llm(f"{m}-inner", model=setup.alias_a)

    @kitaru.flow
    def env_flow(m: str) -> list[str]:
        return [inner(m), kitaru.llm(f"{m}-body", model=setup.alias_b)]

    handle = env_flow.run(mark)
    assert handle.wait() == [f"echo: {mark}-inner", f"echo: {mark}-body"]
    assert only_request(server, f"{mark}-inner").bearer_token == ENV_KEY
    assert only_request(server, f"{mark}-body").bearer_token == ENV_KEY
    assert handle.secret_reads == []
    assert kitaru.get_execution(handle.execution_id).secret_reads == ()
    calls = kitaru_metadata(handle.execution_id)["llm_calls"]
    assert [(c["checkpoint"], c["credential_source"]) for c in calls] == [
        ("inner", "environment"),
        ("llm", "environment"),
    ]


def test_provider_error_in_a_flow_fails_it_with_the_key_redacted(setup: Setup, server: Any) -> None:
    server.fail_next = 5
    server.fail_message = "Incorrect API key provided: {bearer}"
    mark = marker()

    @kitaru.flow
    def failing(m: str) -> str:
        return kitaru.llm(m, model=setup.alias_a, name="doomed", num_retries=0, max_retries=0)

    handle = failing.run(mark)
    assert handle.status == "failed"
    assert isinstance(handle.error, LLMCallError)
    assert setup.key_a not in str(handle.error) and "[REDACTED]" in str(handle.error)
    assert [r.bearer_token for r in requests_with(server, mark)] == [setup.key_a]
    execution = kitaru.get_execution(handle.execution_id)
    assert execution.status == "failed"
    assert {c.id: c.status for c in execution.checkpoints} == {"llm_doomed": "failed"}
    assert execution.error is not None and "LLMCallError" in execution.error
    assert setup.key_a not in execution.error
    # The failed call is recorded too, with the provider's text redacted.
    (call,) = kitaru_metadata(handle.execution_id)["llm_calls"]
    assert (call["checkpoint"], call["name"], call["response"]) == ("llm_doomed", "doomed", None)
    assert "Incorrect API key provided: [REDACTED]" in call["error"]
    assert setup.key_a not in json.dumps(call)


def test_provider_error_quoting_an_exported_key_is_redacted_in_the_record(
    setup: Setup, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    server.fail_next = 5
    server.fail_message = "Incorrect API key provided: {bearer}"
    mark = marker()

    @kitaru.flow
    def failing_env(m: str) -> str:
        return kitaru.llm(m, model=setup.alias_plain, name="envkey", num_retries=0, max_retries=0)

    handle = failing_env.run(mark)
    assert handle.status == "failed"
    assert [r.bearer_token for r in requests_with(server, mark)] == [ENV_KEY]
    assert ENV_KEY not in str(handle.error) and "[REDACTED]" in str(handle.error)
    (call,) = kitaru_metadata(handle.execution_id)["llm_calls"]
    assert "Incorrect API key provided: [REDACTED]" in call["error"]
    assert ENV_KEY not in json.dumps(call)


def test_allm_in_a_flow_body_and_in_a_checkpoint(setup: Setup, server: Any) -> None:
    mark = marker()

    @kitaru.checkpoint
    async def think(m: str) -> str:
        return await kitaru.allm(f"{m}-cp", model=setup.alias_a)

    @kitaru.flow
    async def async_flow(m: str) -> list[str]:
        inside = await think(m)
        body = await kitaru.allm(f"{m}-body", model=setup.alias_b, name="async_body")
        return [inside, body]

    handle = async_flow.run(mark)
    assert handle.wait() == [f"echo: {mark}-cp", f"echo: {mark}-body"]
    assert only_request(server, f"{mark}-cp").bearer_token == setup.key_a
    assert only_request(server, f"{mark}-body").bearer_token == setup.key_b
    ids = {c.id for c in kitaru.get_execution(handle.execution_id).checkpoints}
    assert ids == {"think", "llm_async_body"}
    calls = kitaru_metadata(handle.execution_id)["llm_calls"]
    assert [(c["checkpoint"], c["alias"]) for c in calls] == [
        ("think", setup.alias_a),
        ("llm_async_body", setup.alias_b),
    ]


def test_parallel_checkpoints_keep_their_own_credentials(setup: Setup, server: Any) -> None:
    mark = marker()

    @kitaru.checkpoint
    def many(alias: str, tag: str) -> list[str]:
        return [kitaru.llm(f"{tag}-{i}-{mark}", model=alias) for i in range(10)]

    @kitaru.flow
    def parallel() -> list[list[str]]:
        a = many.submit(setup.alias_a, "A")
        b = many.submit(setup.alias_b, "B")
        return [a.result(), b.result()]

    handle = parallel.run()
    a, b = handle.wait()
    assert a == [f"echo: A-{i}-{mark}" for i in range(10)]
    assert b == [f"echo: B-{i}-{mark}" for i in range(10)]
    for i in range(10):
        assert only_request(server, f"A-{i}-{mark}").bearer_token == setup.key_a
        assert only_request(server, f"B-{i}-{mark}").bearer_token == setup.key_b
    calls = kitaru_metadata(handle.execution_id)["llm_calls"]
    assert len(calls) == 20
    for call in calls:
        tag = call["prompt"][0]["content"][0]
        assert call["alias"] == {"A": setup.alias_a, "B": setup.alias_b}[tag]
    assert "OPENAI_API_KEY" not in os.environ


def test_canary_scan_of_stored_state_and_output(
    setup: Setup, server: Any, config_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Runs last: nothing under KITARU_CONFIG_PATH or in the output holds a key."""
    mark = marker()

    @kitaru.checkpoint
    def risky(m: str) -> str:
        server.fail_next = 2
        server.fail_message = "Incorrect API key provided: {bearer}"
        try:
            kitaru.llm(f"{m}-fail", model=setup.alias_a, num_retries=0, max_retries=0)
        except LLMCallError as exc:
            print(f"caught: {exc}")
        server.fail_next = 0
        return kitaru.llm(f"{m}-ok", model=setup.alias_b)

    @kitaru.flow
    def scanned(m: str) -> list[str]:
        return [risky(m), kitaru.llm(f"{m}-body", model=setup.alias_a, name="scan")]

    handle = scanned.run(mark)
    assert handle.wait() == [f"echo: {mark}-ok", f"echo: {mark}-body"]
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "caught: LLM call to 'openai/demo' failed" in output  # the capture works
    assert [r.bearer_token for r in requests_with(server, f"{mark}-fail")] == [setup.key_a]

    patterns: list[bytes] = []
    for key in setup.keys:
        raw = key.encode()
        patterns += [raw, base64.b64encode(raw).rstrip(b"="), base64.urlsafe_b64encode(raw)]
    for key in setup.keys:
        assert key not in output

    # The files are read in another process: opening and closing the SQLite files
    # here would drop this process's POSIX locks on them (SQLite relies on those).
    proc = subprocess.run(
        [sys.executable, "-c", _SCAN_SCRIPT, str(config_path)],
        input="\n".join(p.hex() for p in patterns),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["found"] == []
    assert report["files"] > 0
    assert any(name.endswith("zenml.db") for name in report["names"])
    assert (config_path / "zenml").is_dir()


def test_a_call_from_a_thread_inside_a_checkpoint_is_recorded_with_it(
    setup: Setup, server: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    mark = marker()

    @kitaru.checkpoint
    def fan_out(m: str) -> list[str]:
        # Pool threads do not inherit kitaru's context.
        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(lambda i: kitaru.llm(f"t{i} {m}", model=setup.alias_a), [0, 1]))

    @kitaru.flow
    def threaded(m: str) -> list[str]:
        return fan_out(m)

    handle = threaded.run(mark)
    assert handle.wait() == [f"echo: t0 {mark}", f"echo: t1 {mark}"]
    assert only_request(server, f"t0 {mark}").bearer_token == setup.key_a
    calls = kitaru_metadata(handle.execution_id)["llm_calls"]
    assert sorted(c["prompt"][0]["content"] for c in calls) == [f"t0 {mark}", f"t1 {mark}"]
    assert {(c["checkpoint"], c["alias"], c["credential_source"]) for c in calls} == {
        ("fan_out", setup.alias_a, "secret")
    }
    execution = kitaru.get_execution(handle.execution_id)
    assert [(c.id, c.status) for c in execution.checkpoints] == [("fan_out", "completed")]
    reads = {(r["secret"], r["checkpoint"]) for r in execution.secret_reads}
    assert reads == {(setup.secret_a, "fan_out")}
