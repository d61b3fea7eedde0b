"""``kitaru version`` and ``kitaru completion``."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


def kitaru_version() -> str:
    """The installed kitaru package's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kitaru")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


@click.command("version")
def version_cmd() -> None:
    """Print kitaru's version (same as `kitaru -V`)."""
    click.echo(f"kitaru, version {kitaru_version()}")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion_cmd(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
      bash:  eval "$(kitaru completion bash)"        (add to ~/.bashrc)
      zsh:   eval "$(kitaru completion zsh)"         (add to ~/.zshrc)
      fish:  kitaru completion fish > ~/.config/fish/completions/kitaru.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root().command
    cls = get_completion_class(shell)
    if cls is None:  # click knows all three; kept for a click that drops one
        raise click.UsageError(f"No completion support for {shell}.")
    click.echo(cls(root, {}, "kitaru", "_KITARU_COMPLETE").source())
