"""``kitaru secrets run`` and ``kitaru secrets rename``, and ``set --remove-key``'s work."""

from __future__ import annotations

import os
import shutil
import sys

import click

from kitaru.cli._base import EXIT_USAGE, fail, json_option, print_json
from kitaru.errors import SecretUnavailableError

# Exit codes of a shell for a command that is missing or cannot be run.
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("names_and_command", nargs=-1, type=click.UNPROCESSED, required=True)
def run_cmd(names_and_command: tuple[str, ...]) -> None:
    """Run a command with secrets' keys as environment variables: NAME... -- CMD ARGS...

    \b
      kitaru secrets run openai-creds -- python my_script.py
      kitaru secrets run github-creds openai-creds -- make deploy

    Each key of each secret becomes a variable of the command's environment
    (a later secret wins when two have the same key); the rest of your
    environment is passed through. The command's exit code is kitaru's. The
    values are never printed; the command itself may print them.
    """
    args = list(names_and_command)
    if "--" not in args:
        fail("Separate the secret names from the command with --: NAME... -- CMD ARGS...", 2)
    cut = args.index("--")
    names, command = args[:cut], args[cut + 1 :]
    if not names:
        fail("Name at least one secret before --.", EXIT_USAGE)
    if not command:
        fail("Give the command to run after --.", EXIT_USAGE)
    from kitaru._secret_validation import validate_ref
    from kitaru._zenml import secret_store

    env: dict[str, str] = {}
    for name in names:
        stored = secret_store.get_secret(validate_ref(name))
        for key in stored.keys:
            value = stored.values[key]
            if value is None:
                raise SecretUnavailableError(stored.name, key)
            env[key] = value
    program = shutil.which(command[0])
    if program is None:
        fail(f"Command not found: {command[0]}", EXIT_NOT_FOUND)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(program, command, {**os.environ, **env})
    except OSError as exc:
        fail(f"Cannot run {command[0]}: {exc.strerror}.", EXIT_NOT_EXECUTABLE)


@click.command("rename")
@click.argument("old")
@click.argument("new")
@json_option
def rename_cmd(old: str, new: str, as_json: bool) -> None:
    """Rename secret OLD (exact name or full ID) to NEW, keeping its ID, keys and visibility.

    Model aliases linked to it are re-linked to the new name.
    """
    from kitaru._zenml.secret_edits import rename
    from kitaru.models import relink_secret

    stored, old_name = rename(old, new)
    relinked = relink_secret(old_name, stored.name) if old_name != stored.name else []
    if as_json:
        print_json(
            {"id": stored.id, "old_name": old_name, "name": stored.name, "relinked": relinked}
        )
        return
    vis = "private" if stored.private else "public"
    click.echo(f"Renamed {vis} secret '{old_name}' to '{stored.name}' ({stored.id}).")
    if relinked:
        click.echo(f"Re-linked model aliases: {', '.join(relinked)}.")


def remove_keys_and_report(name: str, keys: tuple[str, ...], as_json: bool) -> None:
    """``kitaru secrets set NAME --remove-key KEY...``: remove keys, print what is left."""
    from kitaru._zenml.secret_edits import remove_keys

    stored = remove_keys(name, keys)
    removed = sorted(set(keys))
    if as_json:
        print_json(
            {"id": stored.id, "name": stored.name, "keys_removed": removed, "keys": stored.keys}
        )
        return
    left = ", ".join(stored.keys) or "(none)"
    click.echo(
        f"Removed {', '.join(removed)} from secret '{stored.name}' ({stored.id}); keys: {left}"
    )
