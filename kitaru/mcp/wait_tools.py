"""MCP tools for executions that wait for a person: list pending waits, answer one.

- ``kitaru_executions_waiting``: the pending ``kitaru.wait()`` calls (execution,
  flow, wait name, question, JSON Schema of the expected answer).
- ``kitaru_executions_input``: answer (or abort) one, exactly as
  ``kitaru executions input`` does: the value is checked against the schema and
  the leak guard, and nothing is stored if it is refused.

The server builds the tools with its own error handling and strict argument
models (see ``kitaru.mcp.server``); this module holds their functions and texts.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from kitaru import executions, wait_input

__all__ = ["INPUT_TOOL", "WAITING_TOOL", "PendingWait", "WaitAnswer", "WaitList", "tools"]

WAITING_TOOL = "kitaru_executions_waiting"
INPUT_TOOL = "kitaru_executions_input"

WAITING_DESCRIPTION = """\
List the kitaru flow executions that are waiting for a person's input (a \
`kitaru.wait()` call in the flow), newest first.

For each pending wait: execution_id, flow, wait (its name), question, answer_schema (the \
JSON Schema the answer must match; null for a continue/abort gate that takes no \
value) and metadata. Answer one with kitaru_executions_input.\
"""

INPUT_DESCRIPTION = """\
Answer a pending kitaru.wait() of an execution, or abort it.

- execution_id: the execution's ID (or a unique prefix of 8+ characters).
- value: the answer as JSON; it must match the wait's schema (see \
kitaru_executions_waiting). For a continue/abort gate give null.
- abort: true aborts the wait instead (the flow gets WaitAbortedError).
- wait: the wait's name, needed only when several waits are pending.

A value that does not match the schema, or that contains a value of a secret the \
execution read, is refused and nothing is stored. If the flow's process is still \
polling it continues at once; if it was released, the result's status is \
"waiting" and the execution continues with `kitaru executions resume ID`.\
"""


class PendingWait(BaseModel):
    """One pending wait, as the MCP tools report it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_id: str = Field(description="The waiting execution's ID.")
    flow: str | None = Field(description="The flow's name.")
    wait: str = Field(description="The wait's name (wait, wait_2, ... unless named).")
    question: str | None = Field(description="The question the flow asks.")
    answer_schema: dict[str, Any] | None = Field(
        description="JSON Schema of the expected answer; null for a continue/abort gate.",
    )
    metadata: dict[str, Any] = Field(description="Metadata the flow attached to the wait.")


class WaitList(BaseModel):
    """The result of ``kitaru_executions_waiting``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    waits: list[PendingWait] = Field(description="Pending waits, newest first.")
    count: int = Field(description="Number of pending waits listed.")


class WaitAnswer(BaseModel):
    """The result of ``kitaru_executions_input``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_id: str = Field(description="The execution's full ID.")
    wait: str = Field(description="The wait that was answered.")
    aborted: bool = Field(description="True if the wait was aborted.")
    status: str = Field(
        description="The execution's status now: running (continuing in its process), "
        "waiting (released: resume it with `kitaru executions resume ID`), or ended."
    )


# The server's runner: executes work on its store thread, maps errors to tool errors.
Runner = Callable[[str, Callable[[], BaseModel]], Awaitable[CallToolResult]]


def tools(run: Runner) -> list[Tool]:
    """The two wait tools, run through the server's ``run``."""

    async def kitaru_executions_waiting(
        limit: Annotated[
            int, Field(ge=1, le=1000, description="How many pending waits at most.")
        ] = 50,
    ) -> Annotated[CallToolResult, WaitList]:
        """List pending waits (metadata only)."""

        def work() -> WaitList:
            found = [
                PendingWait(
                    execution_id=execution_id,
                    flow=flow,
                    wait=w.name,
                    question=w.question,
                    answer_schema=w.answer_schema,
                    metadata=w.metadata,
                )
                for execution_id, flow, w in wait_input.pending_waits(limit)
            ]
            return WaitList(waits=found, count=len(found))

        return await run(WAITING_TOOL, work)

    async def kitaru_executions_input(
        execution_id: Annotated[str, Field(description="The execution's ID or unique prefix.")],
        value: Annotated[
            Any, Field(description="The answer as JSON (null for a gate, or with abort).")
        ] = None,
        abort: Annotated[bool, Field(description="true: abort the wait instead.")] = False,
        wait: Annotated[
            str | None, Field(description="The wait's name, if several are pending.")
        ] = None,
    ) -> Annotated[CallToolResult, WaitAnswer]:
        """Answer or abort a pending wait."""

        def work() -> WaitAnswer:
            from kitaru.errors import KitaruValidationError

            full_id = executions.resolve_execution_id(execution_id)
            if abort:
                if value is not None:
                    raise KitaruValidationError(
                        "Give a value or abort=true, not both.", field="value"
                    )
                name = executions.abort_wait(full_id, wait=wait)
            else:
                name = executions.give_input(full_id, value, wait=wait)
            status = executions.get_execution(full_id).status
            return WaitAnswer(execution_id=full_id, wait=name, aborted=abort, status=status)

        return await run(INPUT_TOOL, work)

    waiting = Tool.from_function(
        kitaru_executions_waiting,
        name=WAITING_TOOL,
        title="List kitaru executions waiting for input",
        description=WAITING_DESCRIPTION,
        annotations=ToolAnnotations(
            title="List kitaru executions waiting for input",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    answer = Tool.from_function(
        kitaru_executions_input,
        name=INPUT_TOOL,
        title="Answer a waiting kitaru execution",
        description=INPUT_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Answer a waiting kitaru execution",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    return [waiting, answer]
