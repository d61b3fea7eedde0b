"""Shared CLI plumbing: error handling, exit codes, JSON and table output.

Exit codes: 0 success, 1 a kitaru error (not found, backend failure, ...),
2 bad usage or invalid input (click's own code for usage errors).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

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
        except Exception as exc:  # last resort; never print values
            if os.environ.get("KITARU_DEBUG"):
                raise
            # Third-party messages may quote their input (e.g. a secret value), so
            # only the type is shown.
            fail(
                f"Unexpected {type(exc).__name__}. Re-run with KITARU_DEBUG=1 for details.",
                EXIT_ERROR,
            )


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Render a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Cells are plain Text: a secret named "x[/]" or "[bold]a" must print as
    # itself, not be parsed (or fail to parse) as rich markup.
    table = Table(title=Text(title) if title else None, show_lines=False)
    for col in columns:
        table.add_column(Text(col), overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console = Console()
    # IDs must stay whole and copyable, even in a narrow or non-terminal output.
    console.width = max(console.width, 160)
    console.print(table)


def json_option(fn: Any) -> Any:
    """The ``--json`` flag shared by read commands."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(fn)
