"""The kitaru MCP server: metadata-only secret tools, and answering waiting flows, over stdio.

Tools:

- ``kitaru_secrets_create``: create a secret from KEY -> value pairs and return
  its metadata (name, ID, visibility, key names).
- ``kitaru_secrets_list``: metadata of every secret the current user can see.
- ``kitaru_executions_waiting`` and ``kitaru_executions_input``: list the flows
  waiting for a person's input, and answer one (see ``kitaru.mcp.wait_tools``).

Guarantees:

- No tool returns a secret value, and no tool deletes a secret (use the CLI or
  the Python SDK for that).
- A :class:`~kitaru.errors.KitaruError` comes back as a tool error
  (``isError: true``) whose text is exactly the kitaru message; kitaru messages
  name secrets and keys, never values. A name or key that fails validation is
  not repeated either, since an agent may have swapped it with a value.
- Any other exception is reported (and logged) by its type name only, because
  third-party messages can quote their input.
- Input schemas are strict (``additionalProperties: false``; ``private`` must be a
  JSON boolean), and arguments that fail validation are reported without the
  rejected input (see :func:`_strict_arguments`), so a value sent in the wrong
  shape is not echoed back.
- ``kitaru_secrets_create`` never overwrites or shadows: it refuses a name that
  any secret visible to the caller already has, public or private.
- stdout is the transport: the SDK's stdio transport points fd 1 at stderr while
  serving, and this module only ever logs to stderr.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

import kitaru
from kitaru._store import validation as check
from kitaru._store.backend import StoredSecret
from kitaru._store.secret_store import backend
from kitaru.errors import InvalidSecretError, KitaruError
from kitaru.mcp import wait_tools
from kitaru.secrets import SecretSummary

__all__ = [
    "CREATE_TOOL",
    "LIST_TOOL",
    "SERVER_NAME",
    "SecretList",
    "SecretMetadata",
    "build_server",
    "run",
]

logger = logging.getLogger("kitaru.mcp")

SERVER_NAME = "kitaru"
CREATE_TOOL = "kitaru_secrets_create"
LIST_TOOL = "kitaru_secrets_list"

INSTRUCTIONS = (
    "Tools for kitaru's secret store (credentials such as OPENAI_API_KEY used by kitaru "
    "flows). You can create a secret and list secret metadata. Secret values are "
    "write-only here: no tool ever returns a value. Reading values, updating and "
    "deleting secrets are intentionally not exposed over MCP; use the kitaru CLI "
    "(`kitaru secrets set/show/delete`) or the Python SDK for those. You can also list "
    "flow executions waiting for a person's input and answer them."
)

CREATE_DESCRIPTION = """\
Create a new kitaru secret: a named set of KEY -> value credentials (for example \
{"OPENAI_API_KEY": "sk-..."}) in the configured kitaru/ZenML secret store.

Returns metadata only: name, id, visibility ("public" or "private"), private, and \
the key names. Secret values are never returned by any kitaru MCP tool and never \
appear in error messages.

Rules:
- name: the secret's name (not a UUID, no leading/trailing whitespace).
- values: at least one pair; keys must be environment-variable style names \
(letters, digits and underscores, not starting with a digit); values must be \
non-empty strings.
- private: false (default) creates a public secret, visible to other users of the \
same secret store (not internet-public); true makes it visible only to you.
- force: keys that change how a process starts (PATH, LD_*, DYLD_*, PYTHON*, \
BASH_ENV, ENV, SHELLOPTS, IFS, KITARU_*, ZENML_*, ...) are refused unless force is \
true; storing one adds a warning to the result.
- This tool only creates: it fails with an error if any secret you can see already \
has this name (public or private), and never overwrites or shadows one. To update \
values use the CLI (`kitaru secrets set NAME --KEY=value`) or `kitaru.set_secret()`.
- Deleting secrets is intentionally not exposed over MCP: use the CLI \
(`kitaru secrets delete NAME`) or the Python SDK (`kitaru.delete_secret()`).\
"""

LIST_DESCRIPTION = """\
List the kitaru secrets the current user can access, sorted by name.

Returns metadata only for each secret: name, id, visibility ("public" or \
"private"), private, the key names, and unavailable_keys (keys whose values the \
store withholds from the current user). Secret values are never returned by any \
kitaru MCP tool. Deleting secrets is intentionally not exposed over MCP: use the \
CLI (`kitaru secrets delete NAME`) or the Python SDK (`kitaru.delete_secret()`).\
"""


class SecretMetadata(BaseModel):
    """What the MCP tools report about one secret. Never a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The secret's name.")
    id: str = Field(description="The secret's full ID.")
    visibility: Literal["public", "private"] = Field(
        description='"private": only its owner can see it; "public": visible to other users '
        "of the same secret store."
    )
    private: bool = Field(description="True if only its owner can see it.")
    keys: list[str] = Field(description="Names of the secret's keys (never their values).")
    unavailable_keys: list[str] = Field(
        default_factory=list,
        description="Keys whose values the store does not return to the current user.",
    )


class SecretList(BaseModel):
    """The result of ``kitaru_secrets_list``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secrets: list[SecretMetadata] = Field(description="Accessible secrets, sorted by name.")
    count: int = Field(description="Number of secrets listed.")


def _metadata(summary: SecretSummary | StoredSecret) -> SecretMetadata:
    # Field by field on purpose: a field later added to SecretSummary does not
    # reach MCP clients unless it is added here too.
    return SecretMetadata(
        name=summary.name,
        id=str(summary.id),
        visibility="private" if summary.private else "public",
        private=summary.private,
        keys=list(summary.keys),
        unavailable_keys=list(summary.unavailable_keys),
    )


# One worker thread for every store call: the ZenML client and its SQLite
# store are not meant to be used from many threads, and calls stay serialized.
_executor: ThreadPoolExecutor | None = None

_M = TypeVar("_M", bound=BaseModel)


def _worker() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kitaru-mcp")
    return _executor


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


async def _call(tool: str, work: Callable[[], _M]) -> CallToolResult:
    """Run ``work`` on the store thread and turn its outcome into a tool result.

    Success: the model as structured content plus its JSON as text.
    :class:`KitaruError`: an error result whose text is the kitaru message.
    Anything else: an error result naming only the exception type.
    """
    loop = asyncio.get_running_loop()
    try:
        model = await loop.run_in_executor(_worker(), work)
    except KitaruError as exc:
        message = str(exc)
        logger.info("%s failed: %s", tool, message)
        return _error(message)
    except Exception as exc:  # noqa: BLE001 - reported by type only, never by message
        kind = type(exc).__name__
        # No traceback and no message: either could quote a secret value.
        logger.error("%s failed with an unexpected %s", tool, kind)
        return _error(
            f"{tool} failed with an unexpected {kind}; details are withheld because they "
            "could contain secret values. Run the equivalent `kitaru secrets` CLI command "
            "to investigate."
        )
    return CallToolResult(
        content=[TextContent(type="text", text=model.model_dump_json())],
        structured_content=model.model_dump(mode="json"),
    )


# An agent may put a value where a name or key belongs (keys and values swapped):
# these errors say what is wrong without repeating the input.
_WITHHELD = {
    "name": "The secret name is not acceptable: it must be non-empty printable text, "
    "without leading or trailing whitespace, at most 255 characters, and not a UUID. "
    "It is not repeated here in case it is a secret value.",
    "key": "A key in values is not an environment-variable-style name (ASCII letters, "
    "digits and underscores, not starting with a digit, e.g. OPENAI_API_KEY). It is not "
    "repeated here in case it is a secret value: check that keys and values are not swapped.",
}


def _validated(name: str, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The checked name and values; a bad name or key is reported without echoing it."""
    try:
        clean_name = check.validate_name(name)
        return clean_name, check.validate_values(values, secret=clean_name)
    except InvalidSecretError as exc:
        if exc.field in _WITHHELD:
            raise InvalidSecretError(_WITHHELD[exc.field], field=exc.field) from None
        raise


async def kitaru_secrets_create(
    name: Annotated[str, Field(description="Name of the new secret, e.g. openai-creds.")],
    values: Annotated[
        dict[str, str],
        Field(
            description='KEY -> value pairs to store, e.g. {"OPENAI_API_KEY": "sk-..."}. '
            "Keys: environment-variable style names. Values: non-empty strings. "
            "Values are stored, never returned."
        ),
    ],
    private: Annotated[
        bool,
        Field(
            description="true: only you can see the secret. false (default): visible to other "
            "users of the same secret store."
        ),
    ] = False,
    force: Annotated[
        bool,
        Field(
            description="true: also store keys that change how a process starts (PATH, LD_*, "
            "PYTHON*, KITARU_*, ZENML_*, ...); without it such keys are refused."
        ),
    ] = False,
) -> Annotated[CallToolResult, SecretMetadata]:
    """Create a secret whose name no visible secret has; return its metadata only."""
    risky: list[str] = []

    def work() -> SecretMetadata:
        clean_name, clean = _validated(name, values)
        flag = check.validate_private(private)
        risky.extend(check.check_start_changing(clean, force=force, secret=clean_name))
        return _metadata(backend().create_unique(clean_name, clean, private=flag))

    result = await _call(CREATE_TOOL, work)
    if risky and not result.is_error:
        warning = f"Warning: {check.start_changing_warning(name, risky)}"
        logger.warning("%s", warning)
        result.content.append(TextContent(type="text", text=warning))
    return result


async def kitaru_secrets_list() -> Annotated[CallToolResult, SecretList]:
    """List accessible secrets via :func:`kitaru.list_secrets` (metadata only)."""

    def work() -> SecretList:
        secrets = [_metadata(s) for s in kitaru.list_secrets()]
        return SecretList(secrets=secrets, count=len(secrets))

    return await _call(LIST_TOOL, work)


def _strict_arguments(tool: Tool) -> Tool:
    """Make a tool's arguments strict, and its validation errors omit the rejected input.

    The argument model is swapped for a subclass that forbids unknown arguments,
    accepts only exact JSON types (``"private": "yes"`` is an error, not True) and
    hides the input in errors: pydantic's message otherwise quotes it
    (``input_value=...``), so a value sent with the wrong type, or under a
    misspelled ``values`` argument, would be echoed to the client and the log.
    The published input schema is regenerated from it
    (``additionalProperties: false``).
    """
    base = tool.fn_metadata.arg_model
    strict: Any = type(
        base.__name__,
        (base,),
        {
            "__module__": __name__,
            "model_config": ConfigDict(hide_input_in_errors=True, extra="forbid", strict=True),
        },
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return tool


def _tools() -> list[Tool]:
    create = Tool.from_function(
        kitaru_secrets_create,
        name=CREATE_TOOL,
        title="Create a kitaru secret",
        description=CREATE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Create a kitaru secret",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    listing = Tool.from_function(
        kitaru_secrets_list,
        name=LIST_TOOL,
        title="List kitaru secrets",
        description=LIST_DESCRIPTION,
        annotations=ToolAnnotations(
            title="List kitaru secrets",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    waits = wait_tools.tools(_call)
    return [_strict_arguments(t) for t in (create, listing, *waits)]


def build_server() -> MCPServer[Any]:
    """The kitaru MCP server with its secret and wait tools (not started)."""
    # ZenML may lower the root logger's level when it is first imported; the
    # SDK's DEBUG records can hold raw protocol frames (i.e. values), so they
    # are never emitted whatever the root level.
    logging.getLogger("mcp").setLevel(logging.INFO)
    return MCPServer(
        name=SERVER_NAME,
        title="kitaru",
        instructions=INSTRUCTIONS,
        version=kitaru.__version__,
        tools=_tools(),
        # Never DEBUG: the SDK's debug logs can include raw frames, i.e. values.
        log_level="WARNING",
    )


def run() -> None:
    """Serve the kitaru MCP server over stdio until the client disconnects."""
    build_server().run("stdio")
