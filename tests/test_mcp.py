"""The `kitaru-mcp` server, driven by the real MCP client over stdio.

One server subprocess (the installed console script) serves the whole module;
it inherits this process's environment, so it uses the session's temporary
store and secrets it creates are readable here through the SDK.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult

import kitaru
from kitaru.errors import SecretExistsError, SecretNotFoundError

pytestmark = pytest.mark.anyio

CREATE = "kitaru_secrets_create"
LIST = "kitaru_secrets_list"
WAITING = "kitaru_executions_waiting"
INPUT = "kitaru_executions_input"
SERVER_EXE = Path(sys.executable).parent / "kitaru-mcp"


@dataclass
class Server:
    """The module's client session plus what the server wrote outside the protocol."""

    session: ClientSession
    stderr_path: Path
    stream_errors: list[Exception] = field(default_factory=list)

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        return await self.session.call_tool(tool, arguments)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def _wire(result: CallToolResult) -> str:
    """The whole tool result as it travels on the wire."""
    return result.model_dump_json(by_alias=True)


def _assert_no_trace(canary: str, text: str) -> None:
    """Neither the canary nor any 12-character piece of its random part is in ``text``.

    Pieces matter: pydantic shortens long inputs in its messages ("abc...xyz").
    """
    assert canary not in text
    random_part = canary.removeprefix("canary-")
    pieces = {random_part[i : i + 12] for i in range(len(random_part) - 11)}
    leaked = sorted(p for p in pieces if p in text)
    assert not leaked, f"fragments of the secret value leaked: {leaked}"


def _text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    assert SERVER_EXE.exists(), f"console script not installed: {SERVER_EXE}"
    stderr_path = tmp_path_factory.mktemp("mcp") / "server-stderr.log"
    params = StdioServerParameters(command=str(SERVER_EXE), env=dict(os.environ))
    errors: list[Exception] = []

    async def on_message(message: IncomingMessage) -> None:
        # Lines on the server's stdout that are not MCP messages arrive here.
        if isinstance(message, Exception):
            errors.append(message)

    errlog: IO[str]
    with stderr_path.open("w", encoding="utf-8") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(
                read, write, read_timeout_seconds=180, message_handler=on_message
            ) as session,
        ):
            init = await session.initialize()
            assert init.server_info.name == "kitaru"
            yield Server(session=session, stderr_path=stderr_path, stream_errors=errors)


async def test_two_secret_metadata_tools_and_two_wait_tools(server: Server) -> None:
    tools = {t.name: t for t in (await server.session.list_tools()).tools}
    assert set(tools) == {CREATE, LIST, WAITING, INPUT}
    assert not any("delete" in name for name in tools)
    create = tools[CREATE]
    assert set(create.input_schema["properties"]) == {"name", "values", "private", "force"}
    assert sorted(create.input_schema["required"]) == ["name", "values"]
    assert create.input_schema["properties"]["private"]["default"] is False
    assert set(tools[INPUT].input_schema["properties"]) == {
        "execution_id",
        "value",
        "abort",
        "wait",
    }
    assert tools[INPUT].input_schema["required"] == ["execution_id"]
    assert tools[WAITING].annotations is not None
    assert tools[WAITING].annotations.read_only_hint is True
    for tool in (tools[CREATE], tools[LIST]):
        description = tool.description or ""
        assert "never returned" in description
        assert "Deleting secrets is intentionally not exposed" in description
        assert tool.output_schema is not None
    assert tools[LIST].annotations is not None and tools[LIST].annotations.read_only_hint is True


async def test_create_returns_metadata_and_never_the_value(
    server: Server, unique: str, canary: str
) -> None:
    name = f"mcp-create-{unique}"
    result = await server.call(CREATE, {"name": name, "values": {"API_TOKEN": canary}})

    assert result.is_error is False, _text(result)
    meta = result.structured_content
    assert meta is not None
    assert set(meta) == {"name", "id", "visibility", "private", "keys", "unavailable_keys"}
    assert meta["name"] == name
    assert meta["visibility"] == "public" and meta["private"] is False
    assert meta["keys"] == ["API_TOKEN"]
    assert json.loads(_text(result)) == meta
    _assert_no_trace(canary, _wire(result))

    secret = kitaru.get_secret(name)
    assert secret.id == meta["id"]
    assert secret.get("API_TOKEN") == canary
    assert secret.private is False


async def test_list_includes_created_secret_with_keys(
    server: Server, unique: str, canary: str
) -> None:
    name = f"mcp-list-{unique}"
    created = await server.call(
        CREATE, {"name": name, "values": {"B_KEY": canary, "A_KEY": canary + "-2"}}
    )
    assert created.is_error is False, _text(created)

    result = await server.call(LIST, {})
    assert result.is_error is False, _text(result)
    listing = result.structured_content
    assert listing is not None
    assert listing["count"] == len(listing["secrets"])
    names = [s["name"] for s in listing["secrets"]]
    assert names == sorted(names)
    [entry] = [s for s in listing["secrets"] if s["name"] == name]
    assert entry["keys"] == ["A_KEY", "B_KEY"]
    assert entry["id"] == created.structured_content["id"]  # type: ignore[index]
    assert entry["visibility"] == "public"
    _assert_no_trace(canary, _wire(result))
    # Same view as the SDK's.
    assert {s.name for s in kitaru.list_secrets()} == set(names)


async def test_duplicate_name_is_tool_error_with_kitaru_message(
    server: Server, unique: str, canary: str
) -> None:
    name = f"mcp-dup-{unique}"
    first = await server.call(CREATE, {"name": name, "values": {"TOKEN": canary}})
    assert first.is_error is False, _text(first)

    second_value = canary + "-second"
    second = await server.call(CREATE, {"name": name, "values": {"TOKEN": second_value}})
    assert second.is_error is True
    assert second.structured_content is None
    assert _text(second) == str(SecretExistsError(name, private=False))
    _assert_no_trace(canary, _wire(second))
    # Nothing was overwritten.
    assert kitaru.get_secret(name).get("TOKEN") == canary


async def test_invalid_key_is_tool_error_and_nothing_is_written(
    server: Server, unique: str, canary: str
) -> None:
    name = f"mcp-badkey-{unique}"
    result = await server.call(CREATE, {"name": name, "values": {"bad-key": canary}})
    assert result.is_error is True
    text = _text(result)
    assert "bad-key" not in text  # input is never echoed: it may be a value
    assert "environment-variable-style" in text
    _assert_no_trace(canary, _wire(result))
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)


async def test_swapped_key_and_value_are_not_echoed(
    server: Server, unique: str, canary: str
) -> None:
    name = f"mcp-swapped-{unique}"
    result = await server.call(CREATE, {"name": name, "values": {canary: "OPENAI_API_KEY"}})
    assert result.is_error is True
    assert "swapped" in _text(result)
    _assert_no_trace(canary, _wire(result))
    _assert_no_trace(canary, server.stderr())
    bad_name = await server.call(CREATE, {"name": f" {canary}", "values": {"TOKEN": "v1234"}})
    assert bad_name.is_error is True
    _assert_no_trace(canary, _wire(bad_name))
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)


@pytest.mark.parametrize(
    "make_arguments",
    [
        # A value of the wrong type: pydantic would quote it by default.
        lambda name, canary: {"name": name, "values": {"TOKEN": [canary]}},
        # `values` sent as a bare string instead of an object.
        lambda name, canary: {"name": name, "values": canary},
        # A misspelled argument: the "missing field" error would quote all arguments.
        lambda name, canary: {"name": name, "value": {"TOKEN": canary}},
    ],
    ids=["non-string-value", "values-not-an-object", "misspelled-values"],
)
async def test_malformed_arguments_are_rejected_without_echoing_input(
    server: Server, unique: str, canary: str, make_arguments: Any
) -> None:
    name = f"mcp-malformed-{unique}"
    result = await server.call(CREATE, make_arguments(name, canary))
    assert result.is_error is True
    assert "values" in _text(result)
    _assert_no_trace(canary, _wire(result))
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)


async def test_start_changing_key_needs_force_and_warns(
    server: Server, unique: str, canary: str
) -> None:
    name = f"mcp-start-{unique}"
    refused = await server.call(CREATE, {"name": name, "values": {"LD_PRELOAD": canary}})
    assert refused.is_error is True
    assert "LD_PRELOAD" in _text(refused) and "force" in _text(refused)
    _assert_no_trace(canary, _wire(refused))
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)
    done = await server.call(
        CREATE, {"name": name, "values": {"LD_PRELOAD": canary}, "force": True}
    )
    assert done.is_error is False, _text(done)
    assert "Warning:" in _text(done) and "LD_PRELOAD" in _text(done)
    _assert_no_trace(canary, _wire(done))
    assert kitaru.get_secret(name).get("LD_PRELOAD") == canary


async def test_private_true_creates_private_secret(
    server: Server, unique: str, canary: str
) -> None:
    name = f"mcp-private-{unique}"
    result = await server.call(CREATE, {"name": name, "values": {"TOKEN": canary}, "private": True})
    assert result.is_error is False, _text(result)
    meta = result.structured_content
    assert meta is not None
    assert meta["private"] is True and meta["visibility"] == "private"
    _assert_no_trace(canary, _wire(result))
    secret = kitaru.get_secret(name)
    assert secret.private is True
    assert secret.get("TOKEN") == canary


async def test_stdout_is_protocol_only_and_stderr_has_no_values(
    server: Server, unique: str, canary: str
) -> None:
    # Exercise success and both error paths here, so the check does not depend
    # on which other tests ran before it.
    name = f"mcp-logs-{unique}"
    ok = await server.call(CREATE, {"name": name, "values": {"TOKEN": canary}})
    dup = await server.call(CREATE, {"name": name, "values": {"TOKEN": canary}})
    bad = await server.call(CREATE, {"name": name, "values": {"TOKEN": [canary]}})
    listed = await server.call(LIST, {})
    assert [ok.is_error, dup.is_error, bad.is_error, listed.is_error] == [
        False,
        True,
        True,
        False,
    ]
    assert server.stream_errors == []
    _assert_no_trace(canary, server.stderr())


async def test_unexpected_exception_reports_type_name_only(canary: str) -> None:
    from kitaru.mcp.server import _call

    def boom() -> Any:
        raise ValueError(f"third-party message quoting {canary}")

    result = await _call(CREATE, boom)
    assert result.is_error is True
    assert "ValueError" in _text(result)
    _assert_no_trace(canary, _wire(result))


def test_import_kitaru_does_not_import_mcp() -> None:
    code = (
        "import sys, kitaru, kitaru.mcp\n"
        "assert callable(kitaru.mcp.main)\n"
        "leaked = sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.'))\n"
        "print(leaked)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


async def test_create_refuses_a_name_that_exists_in_any_visibility(
    server: Server, unique: str, canary: str
) -> None:
    """An agent cannot shadow a shared credential with a private one (or the reverse)."""
    public_name, private_name = f"mcp-shared-{unique}", f"mcp-mine-{unique}"
    shared = kitaru.create_secret(public_name, {"TOKEN": "shared-value"})
    mine = kitaru.create_secret(private_name, {"TOKEN": "my-value"}, private=True)
    for name, private in ((public_name, True), (private_name, False), (public_name, False)):
        result = await server.call(
            CREATE, {"name": name, "values": {"TOKEN": canary}, "private": private}
        )
        assert result.is_error is True, (name, private)
        assert "already exists" in _text(result)
        _assert_no_trace(canary, _wire(result))
    same_public = [s for s in kitaru.list_secrets() if s.name == public_name]
    assert [(s.id, s.private) for s in same_public] == [(shared.id, False)]
    same_private = [s for s in kitaru.list_secrets() if s.name == private_name]
    assert [(s.id, s.private) for s in same_private] == [(mine.id, True)]
    assert kitaru.get_secret(public_name).get("TOKEN") == "shared-value"


async def test_input_schemas_are_strict(server: Server) -> None:
    tools = {t.name: t for t in (await server.session.list_tools()).tools}
    for tool in tools.values():
        assert tool.input_schema.get("additionalProperties") is False, tool.name
    assert tools[CREATE].input_schema["properties"]["private"]["type"] == "boolean"
    assert tools[INPUT].input_schema["properties"]["abort"]["type"] == "boolean"


@pytest.mark.parametrize(
    "extra",
    [{"private": "yes"}, {"private": "true"}, {"private": 1}, {"overwrite": True}],
    ids=["private-yes", "private-string-true", "private-one", "unknown-argument"],
)
async def test_non_boolean_private_or_unknown_argument_is_an_error(
    server: Server, unique: str, canary: str, extra: dict[str, Any]
) -> None:
    name = f"mcp-strict-{unique}"
    result = await server.call(CREATE, {"name": name, "values": {"TOKEN": canary}, **extra})
    assert result.is_error is True
    _assert_no_trace(canary, _wire(result))
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)


def test_kitaru_mcp_help_prints_usage_and_exits() -> None:
    out = subprocess.run(
        [str(SERVER_EXE), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: kitaru-mcp")
    assert "mcpServers" in out.stdout and "kitaru_secrets_create" in out.stdout
    bad = subprocess.run(
        [str(SERVER_EXE), "--bogus"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert bad.returncode == 2 and "--help" in bad.stderr and bad.stdout == ""


@kitaru.flow(name="mcp-approval")
def mcp_approval(n: int) -> int:
    return n * kitaru.wait(schema=int, question="Multiply by?", timeout=0, metadata={"n": n})


async def test_wait_tools_list_and_answer_a_waiting_execution(server: Server, canary: str) -> None:
    handle = mcp_approval.run(4)
    execution_id = handle.execution_id
    assert handle.status == "waiting"

    listed = await server.call(WAITING, {})
    assert listed.is_error is False, _text(listed)
    assert listed.structured_content is not None
    mine = [w for w in listed.structured_content["waits"] if w["execution_id"] == execution_id]
    assert mine == [
        {
            "execution_id": execution_id,
            "flow": "mcp-approval",
            "wait": "wait",
            "question": "Multiply by?",
            "answer_schema": {"type": "integer"},
            "metadata": {"n": 4},
        }
    ]

    wrong = await server.call(INPUT, {"execution_id": execution_id, "value": canary})
    assert wrong.is_error is True
    assert "does not match the schema of wait 'wait'" in _text(wrong)
    _assert_no_trace(canary, _wire(wrong))
    unknown = await server.call(INPUT, {"execution_id": execution_id, "valeu": 3})
    assert unknown.is_error is True
    assert [w.status for w in kitaru.executions.list_waits(execution_id)] == ["pending"]

    given = await server.call(INPUT, {"execution_id": execution_id[:13], "value": 5})
    assert given.is_error is False, _text(given)
    assert given.structured_content == {
        "execution_id": execution_id,
        "wait": "wait",
        "aborted": False,
        "status": "waiting",
    }
    again = await server.call(INPUT, {"execution_id": execution_id, "value": 6})
    assert again.is_error is True and "has no wait pending" in _text(again)
    assert kitaru.executions.resume(execution_id).wait() == 20
