"""``kitaru executions``: list and inspect flow executions."""

from __future__ import annotations

import datetime as _dt

import click

from kitaru.cli._base import json_option, print_json, print_table
from kitaru.cli.execution_extras import metadata_line, wait_lines
from kitaru.cli.llm_calls import llm_call_line
from kitaru.runtime.statuses import EXECUTION_STATUSES


@click.group("executions", help="Inspect flow executions (status, checkpoints, secret reads).")
def executions_group() -> None:
    """Group for the executions commands."""


def _nothing_found(flow: str | None, status: str | None) -> str:
    if flow is None and status is None:
        return "No executions yet."
    of_flow = f" of flow '{flow}'" if flow is not None else ""
    with_status = f" with status {status.lower()}" if status is not None else ""
    return f"No executions{of_flow}{with_status}."


def _time(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        return _dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


@executions_group.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--flow", "flow_name", default=None, help="Only executions of this flow.")
@click.option(
    "--status",
    type=click.Choice(EXECUTION_STATUSES, case_sensitive=False),
    default=None,
    help="Only executions with this status.",
)
@json_option
def list_cmd(limit: int, flow_name: str | None, status: str | None, as_json: bool) -> None:
    """List the newest executions (all, or of one flow, or with one status)."""
    from kitaru.executions import list_executions

    items = list_executions(limit=limit, flow=flow_name, status=status)
    if as_json:
        print_json([i.model_dump(mode="json") for i in items])
        return
    if not items:
        click.echo(_nothing_found(flow_name, status))
        return
    print_table(
        None,
        ["ID", "Flow", "Status", "Started", "Duration", "Replayed from"],
        [
            (
                i.id,
                i.flow or "-",
                i.status,
                _time(i.started),
                f"{i.duration_s:.2f}s" if i.duration_s is not None else "-",
                i.replayed_from or "",
            )
            for i in items
        ],
    )


@executions_group.command("show")
@click.argument("execution_id")
@click.option("--web", is_flag=True, help="Print the execution's URL on ZenML's dashboard.")
@click.option("--open", "open_web", is_flag=True, help="Open that URL in a web browser.")
@json_option(show=True)
def show_cmd(execution_id: str, web: bool, open_web: bool, as_json: bool) -> None:
    """Show one execution: status, result, checkpoints, LLM calls and secret reads.

    EXECUTION_ID may be a unique prefix of the ID (8 characters or more).
    Outputs are summarised; credentials are named by where they came from
    (env:VAR or secret:NAME), never shown.
    """
    if web or open_web:
        from kitaru.cli.dashboard_link import show_web

        return show_web(execution_id, open_web)
    from kitaru.executions import get_execution

    ex = get_execution(execution_id, outputs=True)
    if as_json:
        from kitaru.cli.output_values import execution_json

        print_json(execution_json(ex))
        return
    click.echo(f"Execution:  {ex.id}")
    click.echo(f"Flow:       {ex.flow}")
    click.echo(f"Status:     {ex.status}")
    if ex.user:
        click.echo(f"User:       {ex.user}")
    if ex.stack:
        click.echo(f"Stack:      {ex.stack}")
    click.echo(f"Started:    {_time(ex.started)}")
    if ex.duration_s is not None:
        click.echo(f"Duration:   {ex.duration_s:.2f}s")
    if ex.replayed_from:
        click.echo(f"Replayed from: {ex.replayed_from}")
    if ex.error:
        click.echo(f"Error:      {ex.error}")
    if ex.result is not None:
        click.echo(f"Result:     {ex.result}")
    if ex.metadata:
        click.echo(f"Metadata:   {metadata_line(ex.metadata)}")
    click.echo("Checkpoints:")
    if not ex.checkpoints:
        click.echo("  (none)")
    for c in ex.checkpoints:
        extra = f", {c.attempts} attempts" if c.attempts > 1 else ""
        reused = f", reused from {c.reused_from}" if c.reused_from else ""
        dur = f"{c.duration_s:.3f}s" if c.duration_s is not None else "-"
        click.echo(f"  {c.id:<24} {c.status:<10} {dur}{extra}{reused}")
        if c.output is not None:
            click.echo(f"      -> {c.output}")
        if c.metadata:
            click.echo(f"      metadata: {metadata_line(c.metadata)}")
    if ex.waits:
        click.echo("Waits:")
        for line in wait_lines(ex.waits):
            click.echo(line)
    click.echo("LLM calls:")
    if not ex.llm_calls:
        click.echo("  (none)")
    for call in ex.llm_calls:
        click.echo(f"  {llm_call_line(call)}")
    click.echo("Secret reads:")
    if not ex.secret_reads:
        click.echo("  (none)")
    for r in ex.secret_reads:
        at = _dt.datetime.fromtimestamp(float(r.get("at", 0))).strftime("%H:%M:%S")
        keys = ", ".join(r.get("keys", [])) or "(metadata only)"
        where = r.get("checkpoint") or "flow body"
        times = f" x{r['count']}" if int(r.get("count", 1)) > 1 else ""
        click.echo(f"  {at}  {r.get('secret')}: {keys}  [{where}]{times}")


@executions_group.command("replay")
@click.argument("execution_id")
@click.option(
    "--from",
    "cut",
    default=None,
    metavar="INVOCATION_ID",
    help="Cut: reuse every call before this one (by position), run it and the rest live.",
)
@click.option(
    "--args",
    "args_json",
    default=None,
    metavar="JSON",
    help="A JSON object of the flow's keyword arguments, replacing the original ones.",
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="INVOCATION_ID=JSON",
    help="Replace the recorded output of a call before the cut (repeatable).",
)
@json_option(long_name="--format")
def replay_cmd(
    execution_id: str,
    cut: str | None,
    args_json: str | None,
    outputs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Start a new execution that reuses the recorded outputs of EXECUTION_ID.

    Checkpoints that completed in the original (same checkpoint, same position,
    same arguments) return their recorded outputs without running; the failed one
    and everything after it run again, reading secrets fresh. With --from, every
    call before that invocation ID is reused by position and the rest run live.
    The flow is imported from the module or script that defined it, with the
    original arguments unless --args replaces them. (To continue the SAME
    execution after a crash or failure, use `kitaru executions retry`.)
    """
    from kitaru._run.replay_by_id import replay_execution
    from kitaru.cli.replay_options import parse_args_json, parse_outputs
    from kitaru.executions import get_execution, resolve_execution_id

    execution_id = resolve_execution_id(execution_id)
    kwargs = parse_args_json(args_json)
    overrides = parse_outputs(outputs)
    handle = replay_execution(execution_id, from_=cut, kwargs=kwargs, outputs=overrides)
    ex = get_execution(str(handle.execution_id))
    reused = [f"{c.id} (from step {c.reused_from})" for c in ex.checkpoints if c.reused_from]
    if as_json:
        print_json(
            {
                "execution_id": handle.execution_id,
                "replayed_from": execution_id,
                "status": handle.status,
                "reused": [c.id for c in ex.checkpoints if c.reused_from],
                "error": str(handle.error) if handle.error else None,
            }
        )
    else:
        click.echo(f"Replayed {execution_id} as {handle.execution_id}: {handle.status}")
        click.echo(f"Reused checkpoints: {', '.join(reused) if reused else '(none)'}")
    if handle.error is not None:
        from kitaru.cli._base import fail

        fail(str(handle.error))


@executions_group.command("logs")
@click.argument("execution_id")
@click.option("--checkpoint", "only", default=None, metavar="NAME", help="Only this checkpoint.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the execution ends.")
@json_option
def logs_cmd(execution_id: str, only: str | None, follow: bool, as_json: bool) -> None:
    """Print what the checkpoints of EXECUTION_ID printed and logged.

    Output is kept per checkpoint call when the call ends, after the leak guard
    replaced every secret value read in the execution with [REDACTED]. NAME is a
    checkpoint name (all its calls) or an invocation ID (`fetch_2`).
    """
    import re
    import time

    from kitaru._zenml import runs
    from kitaru.executions import resolve_execution_id

    execution_id = resolve_execution_id(execution_id)
    shown: set[str] = set()
    collected: list[dict[str, str]] = []
    while True:
        status = runs.run_status(execution_id)
        for invocation_id, step_status, text in runs.checkpoint_logs(execution_id):
            if only is not None and not re.fullmatch(rf"{re.escape(only)}(_\d+)?", invocation_id):
                continue
            if invocation_id in shown:
                continue
            shown.add(invocation_id)
            collected.append({"checkpoint": invocation_id, "status": step_status, "output": text})
            if not as_json:
                click.echo(f"== {invocation_id} ({step_status}) ==")
                click.echo(text.rstrip("\n"))
        if not follow or status not in ("running",):
            break
        time.sleep(1.0)
    if only is not None and not collected:
        from kitaru.cli.checkpoint_names import fail_if_unknown

        fail_if_unknown(execution_id, only)
    if as_json:
        print_json(collected)
    elif not collected:
        what = f"checkpoint {only!r} of " if only else "checkpoints of "
        click.echo(f"No output from {what}execution {execution_id}.", err=True)
