"""``kitaru executions input`` and ``kitaru executions resume``: answer a waiting flow."""

from __future__ import annotations

import json
from typing import Any

import click

from kitaru.cli._base import EXIT_USAGE, fail, json_option, print_json


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        # The text is not echoed: it may be a credential typed in the wrong place.
        fail("--value must be JSON (a string is quoted: '\"text\"').", EXIT_USAGE)


@click.command("input")
@click.argument("execution_id")
@click.option("--value", "value_text", default=None, metavar="JSON", help="The answer, as JSON.")
@click.option("--abort", is_flag=True, help="Abort the wait: wait() raises WaitAbortedError.")
@click.option("--wait", "wait_name", default=None, metavar="NAME", help="Which pending wait.")
@json_option(show=True)
def input_cmd(
    execution_id: str, value_text: str | None, abort: bool, wait_name: str | None, as_json: bool
) -> None:
    """Answer the pending kitaru.wait() of EXECUTION_ID (--value JSON), or abort it.

    A continue/abort gate (a wait without a schema) takes --value null.

    The value is checked against the wait's schema and refused (nothing stored)
    if it does not match or holds a value of a secret the execution read. A flow
    still polling continues at once; a released one continues with
    `kitaru executions resume EXECUTION_ID`.
    """
    from kitaru import executions

    if abort == (value_text is not None):
        fail("Give exactly one of --value JSON or --abort.", EXIT_USAGE)
    execution_id = executions.resolve_execution_id(execution_id)
    if abort:
        name = executions.abort_wait(execution_id, wait=wait_name)
    else:
        assert value_text is not None
        name = executions.give_input(execution_id, _parse_value(value_text), wait=wait_name)
    status = executions.get_execution(execution_id).status
    if as_json:
        print_json({"execution_id": execution_id, "wait": name, "aborted": abort, "status": status})
        return
    click.echo(f"{'Aborted' if abort else 'Answered'} wait {name!r} of execution {execution_id}.")
    if status == "waiting":
        click.echo(f"Continue it with: kitaru executions resume {execution_id}")


@click.command("resume")
@click.argument("execution_id")
@json_option(show=True)
def resume_cmd(execution_id: str, as_json: bool) -> None:
    """Continue EXECUTION_ID in place after its wait was answered.

    The same execution goes on: checkpoints that completed return their stored
    outputs without running, and the wait returns its answer. The flow is
    imported from where the execution recorded it.
    """
    from kitaru import executions

    execution_id = executions.resolve_execution_id(execution_id)
    handle = executions.resume(execution_id)
    status = handle.status
    error = handle.error
    if as_json:
        print_json(
            {
                "execution_id": execution_id,
                "status": status,
                "error": str(error) if error is not None else None,
            }
        )
    else:
        click.echo(f"Resumed {execution_id}: {status}")
    if error is not None:
        fail(str(error))
