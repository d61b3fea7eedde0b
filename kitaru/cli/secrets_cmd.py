"""``kitaru secrets``: set, show, list and delete secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kitaru.cli._base import (
    EXIT_USAGE,
    fail,
    json_option,
    print_json,
    print_table,
    say_if_creating_store,
)
from kitaru.cli.secret_values import collect_values
from kitaru.errors import InvalidSecretError

if TYPE_CHECKING:
    from kitaru._store.backend import ListedSecret, StoredSecret

SET_HELP = """Create or update secret NAME with --KEY=value pairs (an upsert).

\b
  kitaru secrets set openai-creds --OPENAI_API_KEY=sk-...
  kitaru secrets set openai-creds --private --OPENAI_API_KEY=sk-...

A new secret is public by default (visible to other users of the same store);
--private makes a new secret visible only to you. On an existing secret, set adds
or overwrites the given keys, keeps the others, and never changes visibility.

To keep values out of your shell history:

\b
  --KEY=-            read the value of KEY from standard input
  --KEY              prompt for the value of KEY (input is hidden)
  --from-file PATH   read a .env file (python-dotenv rules: quotes, escapes,
                     comments, `export KEY=`) or a JSON object from PATH;
                     "-" is stdin. No ${VAR} expansion; a value "-" is refused.

Keys must be environment-variable style: OPENAI_API_KEY, ANTHROPIC_API_KEY, ...
Keys that change how a process starts (PATH, LD_*, DYLD_*, PYTHON*, BASH_ENV,
ENV, SHELLOPTS, IFS, KITARU_*, ZENML_*, ...) need --force, and `secrets run`
refuses them unless --allow-override names them.
A bare --KEY must be upper case (letters, digits, underscores); one that looks
like a mistyped option (--privat) is refused.
Prints what was done and the key names, never the values.
"""


@click.group("secrets", help="Manage secrets (credentials) in kitaru's secret store.")
def secrets_group() -> None:
    """Group for the secrets commands."""


@secrets_group.command(
    "set",
    help=SET_HELP,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("name")
@click.option("--private", is_flag=True, help="Create the secret visible only to you.")
@click.option(
    "--from-file",
    "from_file",
    metavar="PATH",
    help='Read KEY=value lines or a JSON object from PATH ("-" for stdin).',
)
@click.option(
    "--remove-key",
    "remove_keys",
    multiple=True,
    metavar="KEY",
    help="Remove KEY from the secret (repeatable; not combined with values).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Store keys that change how a process starts (PATH, LD_*, PYTHON*, ...).",
)
@json_option
@click.pass_context
def set_cmd(
    ctx: click.Context,
    name: str,
    private: bool,
    from_file: str | None,
    remove_keys: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    from kitaru._store import validation as check
    from kitaru._store.secret_store import backend

    if remove_keys:
        if ctx.args or from_file or private:
            raise InvalidSecretError(
                "--remove-key cannot be combined with values or --private; run two commands.",
                field="remove-key",
            )
        from kitaru.cli.secrets_extra_cmd import remove_keys_and_report

        remove_keys_and_report(name, remove_keys, as_json)
        return

    values = collect_values(list(ctx.args), from_file)
    # The SDK's set_secret() without its pydantic result model (a cold CLI
    # process would pay more for importing pydantic than for the whole upsert).
    name = check.validate_name(name)
    clean = check.validate_values(values, secret=name)
    risky = check.check_start_changing(clean, force=force, secret=name)
    say_if_creating_store()
    result = backend().upsert(name, clean, private=private)
    s = result.secret
    keys_set = sorted(clean)
    if risky:
        click.echo(f"Warning: {check.start_changing_warning(s.name, risky)}", err=True)
    if as_json:
        print_json(
            {
                "action": result.action,
                "keys_set": keys_set,
                "private_requested_but_kept_public": result.private_requested_but_kept_public,
                "secret": _summary_json(s),
            }
        )
        return
    keys = ", ".join(keys_set)
    click.echo(f"{result.action.capitalize()} {_visibility(s)} secret '{s.name}' ({s.id}): {keys}")
    if result.private_requested_but_kept_public:
        click.echo(
            f"Note: '{s.name}' already exists as a public secret; --private was ignored and it "
            "stays public (set never changes visibility)."
        )


@secrets_group.command("show")
@click.argument("name_or_id")
@click.option("--show-values", is_flag=True, help="Also print the raw values (careful!).")
@json_option(show=True)
def show_cmd(name_or_id: str, show_values: bool, as_json: bool) -> None:
    """Show one secret: name, ID, visibility and key names.

    NAME_OR_ID must be the exact name or the full ID. Values are printed only
    with --show-values; keys you may not read appear as `unavailable`.
    """
    from kitaru._store import secret_store
    from kitaru._store.validation import validate_ref

    stored = secret_store.get_secret(validate_ref(name_or_id))
    rows: dict[str, str | None] = {}
    for key in stored.keys:
        value = stored.values[key]
        if value is None:
            rows[key] = "unavailable"
        elif show_values:
            rows[key] = value
        else:
            rows[key] = None
    if as_json:
        data: dict[str, Any] = {
            "name": stored.name,
            "id": stored.id,
            "private": stored.private,
            "visibility": "private" if stored.private else "public",
            "owner": stored.owner,
            "keys": list(stored.keys),
            "unavailable_keys": list(stored.unavailable_keys),
        }
        if show_values:
            data["values"] = rows
        print_json(data)
        return
    click.echo(f"Name:       {stored.name}")
    click.echo(f"ID:         {stored.id}")
    click.echo(f"Visibility: {'private' if stored.private else 'public'}")
    if stored.owner:
        click.echo(f"Owner:      {stored.owner}")
    click.echo("Keys:")
    for key, shown in rows.items():
        click.echo(f"  {key}" + (f": {shown}" if shown is not None else ""))


@secrets_group.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """List the secrets you can access (metadata and key names only)."""
    from kitaru._store.secret_store import backend

    items = backend().list()
    if as_json:
        print_json([dict(_summary_json(s), visibility=_visibility(s)) for s in items])
        return
    if not items:
        click.echo("No secrets yet. Create one with `kitaru secrets set NAME --KEY=value`.")
        return
    print_table(
        None,
        ["Name", "ID", "Visibility", "Keys"],
        [(s.name, s.id, _visibility(s), ", ".join(s.keys)) for s in items],
    )


@secrets_group.command("delete")
@click.argument("name_or_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete_cmd(name_or_id: str, yes: bool, as_json: bool) -> None:
    """Delete a secret by exact name or full ID.

    On a terminal it asks first (-y/--yes skips that); it warns when model
    aliases link the secret, naming them.
    """
    from kitaru._store.secret_store import backend
    from kitaru._store.validation import validate_ref
    from kitaru.cli.secrets_delete import confirm_delete

    confirm_delete(name_or_id, assume_yes=yes)
    s = backend().delete_ref(validate_ref(name_or_id))
    if as_json:
        print_json(dict(_summary_json(s), deleted=True))
        return
    click.echo(f"Deleted {_visibility(s)} secret '{s.name}' ({s.id}).")


def _visibility(stored: StoredSecret | ListedSecret) -> str:
    return "private" if stored.private else "public"


def _summary_json(stored: StoredSecret | ListedSecret) -> dict[str, Any]:
    """What ``SecretSummary.model_dump(mode="json")`` gives: metadata, never a value."""
    return {
        "name": stored.name,
        "id": stored.id,
        "private": stored.private,
        "keys": list(stored.keys),
        "unavailable_keys": list(stored.unavailable_keys),
        "owner": stored.owner,
    }


__all__ = ["EXIT_USAGE", "fail", "secrets_group"]
