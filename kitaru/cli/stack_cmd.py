"""``kitaru stack``: the ZenML stacks flows run on (list, current, use, show, create, delete)."""

from __future__ import annotations

from typing import Any

import click

from kitaru.cli._base import EXIT_USAGE, fail, json_option, print_json, print_table


@click.group("stack", help="Choose and create the ZenML stacks that run flows.")
def stack_group() -> None:
    """Group for the stack commands."""


def _rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [["*" if s["active"] else "", s["name"], str(s["orchestrator"]), s["id"]] for s in items]


def _print_one(info: dict[str, Any]) -> None:
    marker = " (active)" if info["active"] else ""
    click.echo(f"Stack '{info['name']}'{marker}: {info['id']}")
    for kind, comps in info["components"].items():
        for c in comps:
            config = ", ".join(f"{k}={v}" for k, v in sorted(c["config"].items()))
            click.echo(f"  {kind}: {c['name']} ({c['flavor']}){': ' + config if config else ''}")


@stack_group.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """List the stacks of kitaru's store or server (* marks the active one)."""
    from kitaru._zenml.stacks import list_stacks

    items = list_stacks()
    if as_json:
        print_json(items)
        return
    print_table("Stacks", ["", "Name", "Orchestrator", "ID"], _rows(items))


@stack_group.command("current")
@json_option
def current_cmd(as_json: bool) -> None:
    """Show the stack flows run on now (KITARU_STACK overrides the active stack)."""
    from kitaru._zenml.stacks import current_stack

    info = current_stack()
    if as_json:
        print_json(info)
        return
    click.echo(f"{info['name']} (orchestrator {info['orchestrator']}; from {info['source']})")


@stack_group.command("use")
@click.argument("name")
@json_option
def use_cmd(name: str, as_json: bool) -> None:
    """Make stack NAME the active one for every later flow run."""
    from kitaru._zenml.stacks import use_stack

    info = use_stack(name)
    if as_json:
        print_json(info)
        return
    click.echo(f"Active stack is now '{info['name']}' (orchestrator {info['orchestrator']}).")


@stack_group.command("show")
@click.argument("name")
@json_option
def show_cmd(name: str, as_json: bool) -> None:
    """Show stack NAME and its components."""
    from kitaru._zenml.stacks import show_stack

    info = show_stack(name)
    if as_json:
        print_json(info)
        return
    _print_one(info)


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--option takes KEY=VALUE, got {pair!r}.", EXIT_USAGE)
        if key in options:
            fail(f"--option {key} given twice.", EXIT_USAGE)
        options[key.strip()] = value
    return options


@stack_group.command("create")
@click.argument("name")
@click.option(
    "--orchestrator",
    "flavor",
    required=True,
    metavar="FLAVOR",
    help="Orchestrator flavor: local, local_docker, kitaru_subprocess, kubernetes, ...",
)
@click.option(
    "--artifact-store",
    default=None,
    metavar="PATH_OR_URI",
    help="Where artifacts go (a local path, s3://..., gs://...); default: the default store.",
)
@click.option(
    "--option",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Orchestrator option, repeatable (e.g. kubernetes_context=..., python=PATH).",
)
@click.option(
    "--image",
    default=None,
    metavar="IMAGE",
    help="Container orchestrators: the image runs start from (holds Python, kitaru and the "
    "flow's dependencies); nothing is built at run time.",
)
@json_option
def create_cmd(
    name: str,
    flavor: str,
    artifact_store: str | None,
    pairs: tuple[str, ...],
    image: str | None,
    as_json: bool,
) -> None:
    """Register an orchestrator (and artifact store) and a stack NAME of them.

    \b
      kitaru stack create dev --orchestrator local
      kitaru stack create box --orchestrator local_docker --image my-agents:1 \\
          --option 'run_args={"network_mode": "host"}'
      kitaru stack create fresh --orchestrator kitaru_subprocess --option python=/venv/bin/python
      kitaru stack create k8s --orchestrator kubernetes --artifact-store s3://bucket/kitaru \\
          --option kubernetes_context=my-cluster --option kubernetes_namespace=agents

    An unknown flavor or option registers nothing. `kitaru stack use NAME` makes
    the stack active; `my_flow.run(..., stack=NAME)` picks it for one run.
    """
    from kitaru._zenml.stacks import create_stack

    info = create_stack(
        name, flavor, artifact_store=artifact_store, options=_parse_options(pairs), image=image
    )
    if as_json:
        print_json(info)
        return
    click.echo(f"Created stack '{info['name']}' (orchestrator {info['orchestrator']}).")


@stack_group.command("delete")
@click.argument("name")
@json_option
def delete_cmd(name: str, as_json: bool) -> None:
    """Delete stack NAME and the components `kitaru stack create` made for it.

    The default stack and the active one (or the one KITARU_STACK names) are refused.
    """
    from kitaru._zenml.stacks import delete_stack

    info = delete_stack(name)
    if as_json:
        print_json(info)
        return
    click.echo(f"Deleted stack '{info['name']}'.")
