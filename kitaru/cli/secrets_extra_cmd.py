"""``kitaru secrets run`` and ``kitaru secrets rename``, and ``set --remove-key``'s work."""

from __future__ import annotations

import os
import shutil
import sys

import click

from kitaru.cli._base import EXIT_USAGE, fail, json_option, print_json
from kitaru.errors import SecretUnavailableError
from kitaru.runtime.redaction import SECRET_KEYS_VAR

# Exit codes of a shell for a command that is missing or cannot be run.
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--allow-override",
    "allowed",
    multiple=True,
    metavar="KEY",
    help="Let KEY override a variable that changes how a process starts (repeatable).",
)
@click.argument("names_and_command", nargs=-1, type=click.UNPROCESSED, required=True)
def run_cmd(allowed: tuple[str, ...], names_and_command: tuple[str, ...]) -> None:
    """Run a command with secrets' keys as environment variables: NAME... -- CMD ARGS...

    \b
      kitaru secrets run openai-creds -- python my_script.py
      kitaru secrets run github-creds openai-creds -- make deploy

    Each key of each secret becomes a variable of the command's environment
    (a later secret wins when two have the same key); the rest of your
    environment is passed through. The command's exit code is kitaru's. The
    values are never printed; the command itself may print them.

    A key that changes how a process starts (PATH, LD_*, DYLD_*, PYTHON*,
    BASH_ENV, ENV, SHELLOPTS, IFS, KITARU_*, ZENML_*, ...) is refused unless
    --allow-override KEY names it. The injected key names are exported as
    KITARU_SECRET_KEYS, so a kitaru process started by the command guards
    their values like those of secrets it reads.
    """
    args = list(names_and_command)
    if "--" not in args:
        fail("Separate the secret names from the command with --: NAME... -- CMD ARGS...", 2)
    cut = args.index("--")
    names, allow = _names_and_allowed(args[:cut], allowed)
    command = args[cut + 1 :]
    if not names:
        fail("Name at least one secret before --.", EXIT_USAGE)
    if not command:
        fail("Give the command to run after --.", EXIT_USAGE)
    from kitaru._store import secret_store
    from kitaru._store.validation import validate_ref

    env: dict[str, str] = {}
    for name in names:
        stored = secret_store.get_secret(validate_ref(name))
        for key in stored.keys:
            value = stored.values[key]
            if value is None:
                raise SecretUnavailableError(stored.name, key)
            env[key] = value
    from kitaru._store.validation import start_changing_keys

    refused = [k for k in start_changing_keys(env) if k not in allow]
    if refused:
        fail(
            f"Refusing to run: the secrets set {', '.join(refused)}, which changes how the "
            f"command starts; add --allow-override {refused[0]} if you trust every editor "
            "of those secrets.",
            EXIT_USAGE,
        )
    program = shutil.which(command[0])
    if program is None:
        fail(f"Command not found: {command[0]}", EXIT_NOT_FOUND)
    exported = {k for k in os.environ.get(SECRET_KEYS_VAR, "").split(",") if k} | set(env)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(
            program,
            command,
            {**os.environ, **env, SECRET_KEYS_VAR: ",".join(sorted(exported))},
        )
    except OSError as exc:
        fail(f"Cannot run {command[0]}: {exc.strerror}.", EXIT_NOT_EXECUTABLE)


def _names_and_allowed(words: list[str], allowed: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """Secret names, and --allow-override keys also when given after a name."""
    names: list[str] = []
    allow = set(allowed)
    rest = iter(words)
    for word in rest:
        if word == "--allow-override":
            key = next(rest, None)
            if key is None:
                fail("--allow-override needs a KEY.", EXIT_USAGE)
            allow.add(key)
        elif word.startswith("--allow-override="):
            allow.add(word.split("=", 1)[1])
        else:
            names.append(word)
    return names, allow


@click.command("rename")
@click.argument("old")
@click.argument("new")
@json_option
def rename_cmd(old: str, new: str, as_json: bool) -> None:
    """Rename secret OLD (exact name or full ID) to NEW, keeping its ID, keys and visibility.

    Model aliases linked to it are re-linked to the new name.
    """
    from kitaru._store.secret_edits import rename
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
    from kitaru._store.secret_edits import remove_keys

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
