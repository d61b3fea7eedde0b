"""``kitaru executions retry`` and ``recover``: continue executions in place."""

from __future__ import annotations

import contextlib
import sys

import click

from kitaru.cli._base import fail, json_option, print_json


@click.command("retry")
@click.argument("execution_id")
@json_option
def retry_cmd(execution_id: str, as_json: bool) -> None:
    """Continue EXECUTION_ID in place (same ID) after it failed, crashed or was cancelled.

    Checkpoints that completed return their stored outputs without running;
    the first one that did not runs again, and everything after it, reading
    secrets afresh. If the flow's code changed its calls, nothing runs and you
    are told to replay instead (a new execution). The flow is imported from the
    module and project root recorded on the execution, and runs on its stack.
    EXECUTION_ID may be a unique prefix (8 characters or more).
    """
    from kitaru._run.retry import continue_execution
    from kitaru.executions import resolve_execution_id

    execution_id = resolve_execution_id(execution_id)
    with _flow_output_aside(as_json):
        handle, ran = continue_execution(execution_id)
    if not ran:
        _say(as_json, execution_id, "completed", None, "nothing to retry")
        return
    error = handle.error
    _say(as_json, execution_id, handle.status, error, None)
    if error is not None:
        fail(str(error))


def _flow_output_aside(as_json: bool) -> contextlib.AbstractContextManager[object]:
    # The flow runs here and its prints go to stdout; --json keeps stdout for the JSON.
    return contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()


def _say(
    as_json: bool, execution_id: str, status: str, error: BaseException | None, note: str | None
) -> None:
    if as_json:
        print_json(
            {
                "execution_id": execution_id,
                "status": status,
                "error": str(error) if error is not None else None,
                "note": note,
            }
        )
    elif note is not None:
        click.echo(f"Execution {execution_id} is {status}: {note}.")
    else:
        click.echo(f"Retried {execution_id}: {status}")


@click.command("recover")
@click.option("--flow", "flow_name", default=None, help="Only executions of this flow.")
@json_option
def recover_cmd(flow_name: str | None, as_json: bool) -> None:
    """Retry every crashed execution of this store (for a service that restarts).

    Each crashed execution is retried once, even when several recoverers run
    at the same time: one another process is retrying is skipped.
    """
    from kitaru._run.retry import recover

    with _flow_output_aside(as_json):
        handles = recover(flow_name)
    rows = [
        {
            "execution_id": h.execution_id,
            "status": h.status,
            "error": str(h.error) if h.error is not None else None,
        }
        for h in handles
    ]
    if as_json:
        print_json(rows)
    elif not rows:
        click.echo("No crashed executions to recover.")
    else:
        for row in rows:
            click.echo(f"Retried {row['execution_id']}: {row['status']}")


@click.command("cancel")
@click.argument("execution_id")
@click.option(
    "--now",
    is_flag=True,
    help="Also interrupt the checkpoint running now (where its process can be reached).",
)
@json_option
def cancel_cmd(execution_id: str, now: bool, as_json: bool) -> None:
    """Cancel a running or waiting execution, from any terminal.

    No further checkpoint starts; the one running now finishes (with --now it
    is interrupted, as Ctrl-C would). The execution ends `cancelled` and can be
    continued later with `kitaru executions retry`. An execution that has
    already ended is refused (exit 1).
    """
    from kitaru._run.control import cancel_execution
    from kitaru.executions import resolve_execution_id

    execution_id = resolve_execution_id(execution_id)
    said = cancel_execution(execution_id, now=now)
    if as_json:
        print_json({"execution_id": execution_id, "message": said})
    else:
        click.echo(said)
