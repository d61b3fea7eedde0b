"""``kitaru model``: register, list, remove model aliases and pick the default."""

from __future__ import annotations

import click

from kitaru.cli._base import EXIT_USAGE, fail, json_option, print_json, print_table


@click.group("model", help="Manage model aliases used by kitaru.llm().")
def model_group() -> None:
    """Group for the model commands."""


@model_group.command("register")
@click.argument("alias")
@click.option("--model", "model", required=True, metavar="PROVIDER/MODEL", help="litellm model.")
@click.option("--secret", default=None, metavar="NAME", help="Secret holding the credentials.")
@click.option("--api-base", default=None, metavar="URL", help="Custom API base URL.")
@click.option("--default", "make_default", is_flag=True, help="Make this the default alias.")
@click.option("--force", is_flag=True, help="Replace the alias if it is already registered.")
@json_option
def register_cmd(
    alias: str,
    model: str,
    secret: str | None,
    api_base: str | None,
    make_default: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Register ALIAS for a litellm PROVIDER/MODEL (the first alias becomes the default).

    \b
      kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds
      kitaru model register local --model openai/demo --api-base http://127.0.0.1:8000/v1

    --secret must name an existing secret; only its name is stored. kitaru.llm()
    reads it when the provider's environment variables are not set. An alias
    that is already registered is replaced only with --force.
    """
    from kitaru.models import list_models, register_model

    if not force:
        old = next((m for m in list_models() if m.alias == alias), None)
        if old is not None:
            fail(
                f"Model alias '{alias}' already exists (-> {old.model}); add --force to "
                "replace it.",
                EXIT_USAGE,
            )

    m = register_model(alias, model, secret=secret, api_base=api_base, default=make_default)
    if as_json:
        print_json(m.model_dump(mode="json"))
        return
    linked = f", secret '{m.secret}'" if m.secret else ""
    base = f", api base {m.api_base}" if m.api_base else ""
    default = " (default)" if m.is_default else ""
    click.echo(f"Registered model alias '{m.alias}' -> {m.model}{linked}{base}{default}.")


@model_group.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """List model aliases."""
    from kitaru.models import list_models

    items = list_models()
    if as_json:
        print_json([m.model_dump(mode="json") for m in items])
        return
    if not items:
        click.echo("No model aliases. Register one with `kitaru model register ALIAS --model P/M`.")
        return
    print_table(
        None,
        ["Alias", "Model", "Secret", "API base", "Default"],
        [
            (m.alias, m.model, m.secret or "-", m.api_base or "-", "yes" if m.is_default else "")
            for m in items
        ],
    )


@model_group.command("remove")
@click.argument("alias")
def remove_cmd(alias: str) -> None:
    """Remove a model alias."""
    from kitaru.models import list_models, remove_model

    removed = remove_model(alias)
    if not removed.is_default:
        click.echo(f"Removed model alias '{removed.alias}'.")
        return
    new_default = next((m for m in list_models() if m.is_default), None)
    then = (
        f"'{new_default.alias}' ({new_default.model}) is the default now"
        if new_default
        else "no alias is left, so there is no default model now"
    )
    click.echo(f"Removed model alias '{removed.alias}', the default; {then}.")


@model_group.command("default")
@click.argument("alias")
def default_cmd(alias: str) -> None:
    """Make ALIAS the default model."""
    from kitaru.models import set_default_model

    m = set_default_model(alias)
    click.echo(f"Default model is now '{m.alias}' ({m.model}).")


@model_group.command("show")
@click.argument("alias")
@json_option(show=True)
def show_cmd(alias: str, as_json: bool) -> None:
    """Show ALIAS and which credential a kitaru.llm() call with it would use now.

    The credential is named by where it comes from (an environment variable or
    the linked secret), never by its value.
    """
    from kitaru.cli.model_credentials import credential_source
    from kitaru.errors import ModelNotFoundError
    from kitaru.models import list_models

    m = next((m for m in list_models() if m.alias == alias), None)
    if m is None:
        raise ModelNotFoundError(alias)
    cred = credential_source(m)
    if as_json:
        print_json(dict(m.model_dump(mode="json"), credential=cred))
        return
    click.echo(f"Alias:      {m.alias}" + (" (default)" if m.is_default else ""))
    click.echo(f"Model:      {m.model}")
    missing = " (missing)" if m.secret and cred["summary"].startswith("none: the linked") else ""
    click.echo(f"Secret:     {m.secret or '-'}{missing}")
    click.echo(f"API base:   {m.api_base or '-'}")
    click.echo(f"Credential: {cred['summary']}")
