"""The values of ``kitaru secrets set``: ``--KEY=value`` arguments and ``--from-file``.

Files are parsed with python-dotenv's rules (or as a JSON object); a bare
``--NAME`` must look like an environment variable and must not be a mistyped
option. Errors name the file, line or argument, never a value.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from kitaru.errors import InvalidSecretError


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


def collect_values(args: list[str], from_file: str | None) -> dict[str, Any]:
    """The KEY -> value pairs of ``set``'s extra arguments and ``--from-file`` (validated keys)."""
    from kitaru._store.validation import validate_key

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
    unasked = [key for key, value in values.items() if value is None]
    if unasked and not sys.stdin.isatty():
        # getpass would fall back to reading a pipe with a warning, and an empty
        # stdin would end in a bare "Aborted!".
        key = unasked[0]
        raise InvalidSecretError(
            f"--{key} has no value and there is no terminal to ask for it: give "
            f"--{key}=VALUE, or --{key}=- to read it from standard input.",
            field="values",
        )
    for key, value in list(values.items()):
        if value == "-":
            data = sys.stdin.read()
            values[key] = data[:-1] if data.endswith("\n") else data
        elif value is None:
            values[key] = click.prompt(f"Value for {key}", hide_input=True, err=True)
    return values
