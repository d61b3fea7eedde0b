"""The ``kitaru`` command line. Subcommands import what they need when they run."""

from __future__ import annotations

import sys

import click

from kitaru.cli._base import KitaruGroup
from kitaru.cli.executions_cmd import executions_group
from kitaru.cli.executions_retry_cmd import cancel_cmd, recover_cmd, retry_cmd
from kitaru.cli.executions_wait_cmd import input_cmd, resume_cmd
from kitaru.cli.login_cmd import login_cmd, logout_cmd
from kitaru.cli.meta_cmd import completion_cmd, version_cmd
from kitaru.cli.model_cmd import model_group
from kitaru.cli.runner_cmd import runner_group
from kitaru.cli.secrets_cmd import secrets_group
from kitaru.cli.secrets_extra_cmd import rename_cmd, run_cmd
from kitaru.cli.stack_cmd import stack_group
from kitaru.cli.status_cmd import init_cmd, status_cmd


@click.group(cls=KitaruGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="kitaru", prog_name="kitaru")
def cli() -> None:
    """kitaru: durable agent code on top of ZenML.

    State lives in KITARU_CONFIG_PATH (default: a per-user config directory);
    set KITARU_SERVER_URL (or run `kitaru login`) to use a ZenML server.
    Errors print one line on stderr; exit code 1 for errors, 2 for bad input.
    """


cli.add_command(init_cmd)
cli.add_command(status_cmd)
cli.add_command(login_cmd)
cli.add_command(logout_cmd)
cli.add_command(secrets_group)
secrets_group.add_command(run_cmd)
secrets_group.add_command(rename_cmd)
cli.add_command(executions_group)
executions_group.add_command(input_cmd)
executions_group.add_command(resume_cmd)
executions_group.add_command(retry_cmd)
executions_group.add_command(recover_cmd)
executions_group.add_command(cancel_cmd)
cli.add_command(model_group)
cli.add_command(stack_group)
cli.add_command(runner_group)
cli.add_command(version_cmd)
cli.add_command(completion_cmd)


def main() -> None:
    """Console-script entry point."""
    # httpx loads its own command line tool (rich, pygments) when it is imported:
    # about 40 ms, a sixth of a command against a server. This process never
    # runs that tool, so it is marked as absent, which httpx allows for.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    cli(prog_name="kitaru")


__all__ = ["cli", "main"]
