"""``kitaru runner``: the warm runner (experimental; see ``KITARU_RUNNER=warm``)."""

from __future__ import annotations

from typing import Any

import click

from kitaru.cli._base import json_option, print_json


@click.group("runner", help="The warm runner that runs flows without re-importing ZenML.")
def runner_group() -> None:
    """Group for the runner commands."""


def _show(info: dict[str, Any] | None, as_json: bool, none: str) -> None:
    if as_json:
        print_json(info or {"running": None})
        return
    if info is None:
        click.echo(none)
        return
    click.echo(
        f"Warm runner {info['pid']} on {info['socket']}: up {info['uptime_s']} s, "
        f"{info['runs']} runs, {info['running']} running; exits after "
        f"{info['idle_exit_s']:.0f} s idle."
    )


@runner_group.command("start")
@json_option
def start_cmd(as_json: bool) -> None:
    """Start the warm runner for this store (it keeps ZenML imported)."""
    from kitaru._run.warm.client import start

    _show(start(), as_json, "")


@runner_group.command("status")
@json_option
def status_cmd(as_json: bool) -> None:
    """Show whether the warm runner for this store is running."""
    from kitaru._run.warm.client import status

    _show(status(), as_json, "No warm runner is running for this store.")


@runner_group.command("stop")
def stop_cmd() -> None:
    """Stop the warm runner for this store (runs in progress finish)."""
    from kitaru._run.warm.client import stop

    stopped = stop()
    click.echo(
        f"Stopped the warm runner {stopped['pid']}." if stopped else "No warm runner was running."
    )
