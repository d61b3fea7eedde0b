"""``kitaru secrets``: set, show, list and delete secrets."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from kitaru.cli._base import EXIT_USAGE, fail, json_option, print_json, print_table
from kitaru.errors import InvalidSecretError

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
A bare --KEY must be upper case (letters, digits, underscores); one that looks
like a mistyped option (--privat) is refused.
Prints what was done and the key names, never the values.
"""


@click.group("secrets", help="Manage secrets (credentials) in kitaru's secret store.")
def secrets_group() -> None:
    """Group for the secrets commands."""


def _file_error(path: str, message: str, line: int | None = None) -> InvalidSecretError:
    where = path if line is None else f"{path}:{line}"
    return InvalidSecretError(f"{where}: {message}", field="from-file")


def _read_text(path: str) -> str:
    """The file's text: UTF-8 (a BOM is dropped), never binary."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InvalidSecretError(
            f"Cannot read {path}: {exc.strerror}.", field="from-file"
        ) from None
    if b"\0" in data:
        raise _file_error(path, "looks binary; give a text file of KEY=value lines or JSON.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error(path, "is not UTF-8 text; save it as UTF-8 and try again.") from None


def _file_value(path: str, key: str, value: Any, line: int | None = None) -> str:
    """A value from a file: a string, and never ``-`` (stdin only on the command line)."""
    if value is None:
        raise _file_error(path, f"value of key {key!r} is null; give a string.", line)
    if not isinstance(value, str):
        kind = type(value).__name__
        raise _file_error(path, f"value of key {key!r} must be a string, got {kind}.", line)
    if value == "-":
        raise _file_error(
            path,
            f"value of key {key!r} is '-': a file never reads values from standard input; "
            "put the value in the file, or use --KEY=- on the command line.",
            line,
        )
    return value


def _parse_json(path: str, text: str) -> list[tuple[str, str]]:
    duplicates: list[str] = []

    def no_duplicates(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError:
        raise _file_error(path, "is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _file_error(path, "must hold a JSON object of KEY: value strings.")
    if duplicates:
        raise _file_error(path, f"key {duplicates[0]!r} appears more than once.")
    return [(key, _file_value(path, key, value)) for key, value in data.items()]


def _parse_dotenv(path: str, text: str) -> list[tuple[str, str]]:
    """``KEY=value`` lines, read with python-dotenv's rules (no ``${VAR}`` expansion)."""
    from dotenv.parser import parse_stream

    pairs: list[tuple[str, str]] = []
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.key is None and not binding.error:
            continue  # a blank line or a comment
        if binding.error or binding.key is None or binding.value is None:
            # Not echoed: a line without "=" may well be a pasted value.
            raise _file_error(path, "expected KEY=value.", line)
        pairs.append((binding.key, _file_value(path, binding.key, binding.value, line)))
    return pairs


def _parse_file(path: str) -> list[tuple[str, str]]:
    text = _read_text(path)
    if text.lstrip().startswith(("{", "[")):
        pairs = _parse_json(path, text)
    else:
        pairs = _parse_dotenv(path, text)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _file_error(path, f"key {key!r} appears more than once.")
        seen.add(key)
    return pairs


# A bare --NAME (which prompts for its value) must look like an environment variable.
BARE_KEY = re.compile(r"[A-Z_][A-Z0-9_]*\Z")


def _edits(a: str, b: str) -> int:
    """Levenshtein distance between ``a`` and ``b``."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _resembled_option(name: str) -> str | None:
    """The command's own option that ``--name`` is within two edits of, if any."""
    ctx = click.get_current_context(silent=True)
    params = ctx.command.params if ctx is not None else []
    options = [o for p in params for o in p.opts if o.startswith("--")] + ["--help"]
    wanted = name.lower().replace("_", "-")
    best = min(options, key=lambda o: _edits(wanted, o[2:]))
    return best if _edits(wanted, best[2:]) <= 2 else None


def _check_bare(body: str) -> None:
    """Refuse a bare ``--NAME`` that is a mistyped option or no environment-variable name."""
    option = _resembled_option(body)
    if option is not None:
        raise InvalidSecretError(
            f"Unknown option --{body}: did you mean {option}? To set a key of that name, "
            "give --KEY=value (or --KEY=- to read the value from standard input).",
            field="args",
        )
    if not BARE_KEY.match(body):
        # Most likely a pasted credential: do not echo it.
        raise InvalidSecretError(
            "Unexpected option (not shown, in case it is a value): give values as "
            "--KEY=value, or a bare --KEY (upper case, digits and underscores, like "
            "OPENAI_API_KEY) to be prompted.",
            field="args",
        )


def _parse_args(args: list[str]) -> list[tuple[str, str | None]]:
    """``--KEY=value`` pairs; a value of None means: prompt for it."""
    pairs: list[tuple[str, str | None]] = []
    for pos, arg in enumerate(args):
        if not arg.startswith("--") or arg == "--":
            # Never echo the argument: a stray word here is usually a value typed
            # as `--KEY value` instead of `--KEY=value`.
            after = f" after {args[pos - 1].split('=', 1)[0]}" if pos else ""
            raise InvalidSecretError(
                f"Unexpected argument{after} (not shown): give values as --KEY=value "
                "(a bare --KEY prompts for the value).",
                field="args",
            )
        body = arg[2:]
        if "=" in body:
            key, value = body.split("=", 1)
            pairs.append((key, value))
        else:
            _check_bare(body)
            pairs.append((body, None))
    return pairs


def _collect_values(args: list[str], from_file: str | None) -> dict[str, Any]:
    from kitaru._secret_validation import validate_key

    pairs: list[tuple[str, Any]] = []
    if from_file:
        pairs.extend(_parse_file(from_file))
    arg_pairs = _parse_args(args)
    if from_file == "-" and any(v == "-" for _, v in arg_pairs):
        raise InvalidSecretError("Standard input can feed only one of --from-file - and --KEY=-.")
    if sum(1 for _, v in arg_pairs if v == "-") > 1:
        raise InvalidSecretError("Only one key can read its value from standard input (--KEY=-).")
    pairs.extend(arg_pairs)
    values: dict[str, Any] = {}
    for key, value in pairs:
        validate_key(key)
        if key in values:
            raise InvalidSecretError(f"Key {key!r} is given more than once.", field="key")
        values[key] = value
    if not values:
        raise InvalidSecretError(
            "Give at least one --KEY=value (or --from-file PATH).", field="values"
        )
    for key, value in list(values.items()):
        if value == "-":
            data = sys.stdin.read()
            values[key] = data[:-1] if data.endswith("\n") else data
        elif value is None:
            values[key] = click.prompt(f"Value for {key}", hide_input=True, err=True)
    return values


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
@json_option
@click.pass_context
def set_cmd(
    ctx: click.Context,
    name: str,
    private: bool,
    from_file: str | None,
    remove_keys: tuple[str, ...],
    as_json: bool,
) -> None:
    from kitaru.secrets import set_secret

    if remove_keys:
        if ctx.args or from_file or private:
            raise InvalidSecretError(
                "--remove-key cannot be combined with values or --private; run two commands.",
                field="remove-key",
            )
        from kitaru.cli.secrets_extra_cmd import remove_keys_and_report

        remove_keys_and_report(name, remove_keys, as_json)
        return

    values = _collect_values(list(ctx.args), from_file)
    result = set_secret(name, values, private=private)
    s = result.secret
    if as_json:
        print_json(
            {
                "action": result.action,
                "keys_set": list(result.keys_set),
                "private_requested_but_kept_public": result.private_requested_but_kept_public,
                "secret": s.model_dump(mode="json"),
            }
        )
        return
    keys = ", ".join(result.keys_set)
    click.echo(f"{result.action.capitalize()} {s.visibility} secret '{s.name}' ({s.id}): {keys}")
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
    from kitaru._secret_validation import validate_ref
    from kitaru._zenml import secret_store

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
    from kitaru.secrets import list_secrets

    items = list_secrets()
    if as_json:
        print_json([dict(s.model_dump(mode="json"), visibility=s.visibility) for s in items])
        return
    if not items:
        click.echo("No secrets yet. Create one with `kitaru secrets set NAME --KEY=value`.")
        return
    print_table(
        None,
        ["Name", "ID", "Visibility", "Keys"],
        [(s.name, s.id, s.visibility, ", ".join(s.keys)) for s in items],
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
    from kitaru.cli.secrets_delete import confirm_delete
    from kitaru.secrets import delete_secret

    confirm_delete(name_or_id, assume_yes=yes)
    s = delete_secret(name_or_id)
    if as_json:
        print_json(dict(s.model_dump(mode="json"), deleted=True))
        return
    click.echo(f"Deleted {s.visibility} secret '{s.name}' ({s.id}).")


__all__ = ["EXIT_USAGE", "fail", "secrets_group"]
