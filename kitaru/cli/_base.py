"""Shared CLI plumbing: error handling, exit codes, JSON and table output.

Exit codes: 0 success, 1 a kitaru error (not found, backend failure, ...),
2 bad usage or invalid input (click's own code for usage errors).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar, overload

import click

from kitaru.errors import KitaruError, KitaruValidationError

EXIT_ERROR = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``Error: message`` as one line on stderr and exit with ``code``."""
    one_line = " ".join(str(message).split())
    click.echo(f"Error: {one_line}", err=True)
    sys.exit(code)


class KitaruGroup(click.Group):
    """A click group that turns errors into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KitaruValidationError as exc:
            fail(str(exc), EXIT_USAGE)
        except KitaruError as exc:
            fail(str(exc), EXIT_ERROR)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            fail("Interrupted.", 130)
        except BrokenPipeError:
            # The reader went away (`kitaru ... | head`): stop quietly, as `cat` would.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except Exception as exc:  # last resort; never print values
            if os.environ.get("KITARU_DEBUG"):
                raise
            from kitaru._config import paths
            from kitaru._config.disk_space import disk_full_error, full_disk_file

            full = full_disk_file(exc, paths().local_store_db)
            if full is not None:
                fail(str(disk_full_error(full)), EXIT_ERROR)
            # Third-party messages may quote their input (e.g. a secret value), so
            # only the type is shown.
            fail(
                f"Unexpected {type(exc).__name__}. Re-run with KITARU_DEBUG=1 for details.",
                EXIT_ERROR,
            )


OUTPUT_FORMATS = ("table", "tsv", "json", "yaml")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OUTPUT_KEY = "kitaru.output"


def output_format() -> str | None:
    """The format chosen with ``-o``/``--json`` for the running command (None: not chosen)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_OUTPUT_KEY) if ctx is not None else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _tsv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        text = ",".join("" if v is None else str(v) for v in value)
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str, separators=(",", ":"))
    else:
        text = str(value)
    return " ".join(text.replace("\t", " ").split()) if ("\n" in text or "\t" in text) else text


def _echo_tsv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join(_tsv_cell(cell) for cell in row))


def print_json(data: Any) -> None:
    """Write ``data`` to stdout as JSON, or as YAML/TSV when ``-o`` asked for that.

    TSV: a list of objects becomes a header and one row per object; an object
    becomes ``field<TAB>value`` rows; nested values are compact JSON.
    """
    from kitaru.cli.output_values import machine_values

    data = machine_values(data)
    fmt = output_format()
    if fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump(_jsonable(data), sort_keys=False).rstrip("\n"))
    elif fmt == "tsv" and isinstance(data, list):
        items = _jsonable(data)
        columns = list(dict.fromkeys(k for item in items for k in item))
        _echo_tsv(columns, [[item.get(c) for c in columns] for item in items])
    elif fmt == "tsv" and isinstance(data, dict):
        _echo_tsv(["field", "value"], list(_jsonable(data).items()))
    else:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Render a table on stdout: rich, fitted to the terminal; plain TSV when piped.

    ``-o tsv`` forces the plain form and ``-o table`` the rich one.
    """
    fmt = output_format()
    if fmt == "tsv" or (fmt is None and not sys.stdout.isatty()):
        from kitaru.cli.output_values import machine_rows

        _echo_tsv(columns, machine_rows(list(columns), rows))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Cells are plain Text: a secret named "x[/]" or "[bold]a" must print as
    # itself, not be parsed (or fail to parse) as rich markup.
    table = Table(title=Text(title) if title else None, show_lines=False)
    for i, col in enumerate(columns):
        cells = [str(row[i]) for row in rows]
        if cells and all(_UUID.fullmatch(c) for c in cells):
            # IDs stay on one line, whole and copyable; the other columns give way.
            table.add_column(Text(col), no_wrap=True, min_width=36)
        else:
            table.add_column(Text(col), overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        Console().print(table)  # fitted to the terminal (or to the width COLUMNS asks)
        return
    # Piped (-o table): no terminal width to fit, so the table is as wide as its
    # longest cells and no word is broken.
    widths = [
        max([len(str(c)), *(len(str(row[i])) for row in rows)]) for i, c in enumerate(columns)
    ]
    Console(width=sum(widths) + 3 * len(widths) + 1).print(table)


F = TypeVar("F", bound=Callable[..., Any])


@overload
def json_option(fn: F) -> F: ...
@overload
def json_option(*, show: bool = False, long_name: str = "--output") -> Callable[[F], F]: ...


def json_option(fn: Any = None, *, show: bool = False, long_name: str = "--output") -> Any:
    """``-o/--output table|tsv|json|yaml`` and ``--json`` (same as ``-o json``).

    The command receives ``as_json``: True when it should print its data
    through :func:`print_json` (json or yaml; for ``show=True`` commands, which
    print one object, tsv too). Listings print tsv through :func:`print_table`.
    A command whose own ``--output`` means something else names the format
    option ``long_name`` (``-o`` stays).
    """

    def decorate(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            fmt = kwargs.pop("output_format")
            if kwargs.pop("json_flag"):
                if fmt not in (None, "json"):
                    raise click.UsageError(f"--json contradicts -o {fmt}; give one of them.")
                fmt = "json"
            click.get_current_context().meta[_OUTPUT_KEY] = fmt
            data_formats = {"json", "yaml", "tsv"} if show else {"json", "yaml"}
            kwargs["as_json"] = fmt in data_formats
            return func(*args, **kwargs)

        wrapper = click.option(
            "-o",
            long_name,
            "output_format",
            type=click.Choice(OUTPUT_FORMATS),
            default=None,
            help="Output format (default: table on a terminal, tsv when piped).",
        )(wrapper)
        return click.option("--json", "json_flag", is_flag=True, help="Same as -o json.")(wrapper)

    return decorate(fn) if fn is not None else decorate


def say_if_creating_store() -> None:
    """On stderr, one line that a new local store is about to be created (many seconds)."""
    from kitaru._config import config_dir, paths
    from kitaru._config.connection import server_url

    if not server_url() and not paths().local_store_db.exists():
        click.echo(f"kitaru: creating the local store in {config_dir()} (first use) ...", err=True)
