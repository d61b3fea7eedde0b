"""``kitaru model``: register, list, remove model aliases and pick the default."""

from __future__ import annotations

import click

from kitaru.cli._base import json_option, print_json, print_table


@click.group("model", help="Manage model aliases used by kitaru.llm().")
def model_group() -> None:
    """Group for the model commands."""


@model_group.command("register")
@click.argument("alias")
@click.option("--model", "model", required=True, metavar="PROVIDER/MODEL", help="litellm model.")
@click.option("--secret", default=None, metavar="NAME", help="Secret holding the credentials.")
@click.option("--api-base", default=None, metavar="URL", help="Custom API base URL.")
@click.option("--default", "make_default", is_flag=True, help="Make this the default alias.")
@json_option
def register_cmd(
    alias: str,
    model: str,
    secret: str | None,
    api_base: str | None,
    make_default: bool,
    as_json: bool,
) -> None:
    """Register ALIAS for a litellm PROVIDER/MODEL (the first alias becomes the default).

    \b
      kitaru model register fast --model openai/gpt-4o-mini --secret openai-creds
      kitaru model register local --model openai/demo --api-base http://127.0.0.1:8000/v1

    --secret must name an existing secret; only its name is stored. kitaru.llm()
    reads it when the provider's environment variables are not set.
    """
    from kitaru.models import register_model

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
    click.echo(f"Removed model alias '{removed.alias}'.")
    new_default = next((m for m in list_models() if m.is_default), None)
    if removed.is_default:
        click.echo(f"Default is now '{new_default.alias}'." if new_default else "No default now.")


@model_group.command("default")
@click.argument("alias")
def default_cmd(alias: str) -> None:
    """Make ALIAS the default model."""
    from kitaru.models import set_default_model

    m = set_default_model(alias)
    click.echo(f"Default model is now '{m.alias}' ({m.model}).")
