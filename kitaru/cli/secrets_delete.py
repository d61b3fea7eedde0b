"""``kitaru secrets delete``'s confirmation: asks on a terminal, names linked aliases."""

from __future__ import annotations

import sys

import click


def confirm_delete(name_or_id: str, *, assume_yes: bool) -> None:
    """Warn about model aliases linking the secret; on a terminal, ask unless ``assume_yes``.

    Nothing is asked when stdin or stdout is not a terminal (scripts, pipes).
    Declining exits with code 1 and nothing deleted.
    """
    from kitaru._store import secret_store
    from kitaru._store.validation import validate_ref
    from kitaru.models import aliases_linking

    stored = secret_store.get_secret(validate_ref(name_or_id))
    linked = aliases_linking(stored.name)
    if linked:
        aliases = ", ".join(f"'{a}'" for a in linked)
        click.echo(
            f"Warning: secret '{stored.name}' is linked to model alias(es) {aliases}; after "
            "the delete, kitaru.llm() with them needs the provider's environment variables.",
            err=True,
        )
    if assume_yes or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    vis = "private" if stored.private else "public"
    if not click.confirm(f"Delete {vis} secret '{stored.name}' ({stored.id})?", err=True):
        click.echo("Not deleted.", err=True)
        sys.exit(1)
