"""ZenML stacks of kitaru's store or server: list, show, use, create, and per-run choice.

A stack is an orchestrator plus an artifact store (plus an image builder for
container orchestrators). ``KITARU_STACK`` picks one for a process and
``my_flow.run(..., stack=NAME)`` for one run; otherwise the stack chosen with
``kitaru stack use`` (ZenML's active stack) runs flows.

A container stack may name the image its runs use (``kitaru stack create
--image``, kept as the stack label ``kitaru.image``): runs then start from that
image as it is, with the flow's code taken from ZenML's code archive, and
nothing is built at run time.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kitaru._config import config_dir, paths
from kitaru._config.connection import server_url
from kitaru._config.disk_space import disk_full_error, full_disk_file
from kitaru._zenml import stored_paths
from kitaru._zenml.client import get_client, import_zenml
from kitaru._zenml.stack_reads import IMAGE_LABEL, read_stacks
from kitaru._zenml.submit_errors import missing_requirements
from kitaru.errors import BackendError, KitaruValidationError

ENV_STACK = "KITARU_STACK"
SUBPROCESS_FLAVOR = "kitaru_subprocess"
# Flavors `kitaru stack create` knows how to assemble; any other registered
# orchestrator flavor works too, given its options.
CONTAINER_FLAVORS = {"local_docker", "kubernetes", "vertex", "sagemaker", "azureml", "ssh"}

# ZenML reads the stack of a run from one process-wide setting
# (ZENML_ACTIVE_STACK_ID); runs that pick another stack take turns around it.
_stack_switch = threading.Lock()


@dataclass(frozen=True)
class Orchestrator:
    """Where runs of the chosen stack execute."""

    stack: str
    flavor: str
    image: str | None = None

    @property
    def runs_in_caller(self) -> bool:
        """True if the orchestrator runs flows inside the calling process."""
        return self.flavor == "local"

    def run_settings(self) -> dict[str, Any]:
        """ZenML settings for a flow run on this stack (``pipeline.with_options(settings=)``).

        - an image on the stack: ZenML starts runs from it and builds nothing;
        - ``local_docker`` on the embedded store: ZenML mounts only its local
          stores into the container, but kitaru's secrets store also needs its
          key file, so kitaru's config directory is mounted at the same path.
          The orchestrator's own ``run_args`` (e.g. host networking) still apply.
        """
        settings: dict[str, Any] = {}
        if self.image:
            from zenml.config import DockerSettings

            settings["docker"] = DockerSettings(parent_image=self.image, skip_build=True)
        if self.flavor == "local_docker" and server_url() is None:
            root = str(config_dir())
            volumes = {root: {"bind": root, "mode": "rw"}}
            settings["orchestrator.local_docker"] = {"run_args": {"volumes": volumes}}
        return settings


def _components(stack: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, comps in (stack.components or {}).items():
        out[str(getattr(kind, "value", kind))] = [
            {
                "name": c.name,
                "flavor": c.flavor_name,
                "config": {k: v for k, v in (c.configuration or {}).items() if v is not None},
            }
            for c in comps
        ]
    return out


def _find(name: str) -> Any:
    client = get_client()
    try:
        return client.get_stack(name, allow_name_prefix_match=False, hydrate=True)
    except KeyError:
        known = ", ".join(sorted(s["name"] for s in list_stacks())) or "none"
        raise KitaruValidationError(
            f"Unknown stack {name!r} (known: {known}). Create it with `kitaru stack create`.",
            field="stack",
        ) from None


def describe(stack: Any, active_id: Any) -> dict[str, Any]:
    """A stack as plain data."""
    comps = _components(stack)
    orch = comps.get("orchestrator", [{}])[0]
    return {
        "name": stack.name,
        "id": str(stack.id),
        "active": stack.id == active_id,
        "orchestrator": orch.get("flavor"),
        "image": _image_of(stack),
        "components": comps,
    }


def _image_of(stack: Any) -> str | None:
    image = (stack.labels or {}).get(IMAGE_LABEL)
    return str(image) if image else None


def list_stacks() -> list[dict[str, Any]]:
    """Every stack of the store, active one marked."""
    fast = read_stacks()
    if fast is not None:
        return fast[0]
    client = get_client()
    active = client.active_stack_model.id
    page = client.list_stacks(size=1000, hydrate=True)
    return [describe(s, active) for s in page.items]


def _fast_find(stacks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for stack in stacks:
        if stack["name"] == name:
            return stack
    known = ", ".join(sorted(s["name"] for s in stacks)) or "none"
    raise KitaruValidationError(
        f"Unknown stack {name!r} (known: {known}). Create it with `kitaru stack create`.",
        field="stack",
    )


def current_stack() -> dict[str, Any]:
    """The stack flows of this process run on (``KITARU_STACK`` or the active one)."""
    chosen = os.environ.get(ENV_STACK, "").strip()
    fast = read_stacks()
    if fast is not None:
        stacks, active = fast
        info = dict(_fast_find(stacks, chosen) if chosen else _fast_find_id(stacks, active))
    else:
        client = get_client()
        stack = _find(chosen) if chosen else client.active_stack_model
        info = describe(stack, client.active_stack_model.id)
    info["source"] = f"env:{ENV_STACK}" if chosen else "active"
    return info


def _fast_find_id(stacks: list[dict[str, Any]], stack_id: str) -> dict[str, Any]:
    return next(s for s in stacks if s["id"] == stack_id)


def show_stack(name: str) -> dict[str, Any]:
    """One stack by exact name."""
    fast = read_stacks()
    if fast is not None:
        return _fast_find(fast[0], name)
    return describe(_find(name), get_client().active_stack_model.id)


def use_stack(name: str) -> dict[str, Any]:
    """Make ``name`` the active stack of kitaru's store (kept across processes)."""
    stack = _find(name)
    get_client().activate_stack(stack.id)
    return describe(stack, stack.id)


@contextlib.contextmanager
def selected(name: str | None) -> Iterator[Orchestrator]:
    """Scope in which ZenML runs pipelines on stack ``name`` (or the current one)."""
    name = name or os.environ.get(ENV_STACK, "").strip() or None
    client = get_client()
    if name is None:
        model = client.active_stack_model
        yield Orchestrator(model.name, _orchestrator_flavor(model), _image_of(model))
        return
    model = _find(name)
    with _stack_switch:
        before = os.environ.get("ZENML_ACTIVE_STACK_ID")
        os.environ["ZENML_ACTIVE_STACK_ID"] = str(model.id)
        try:
            yield Orchestrator(model.name, _orchestrator_flavor(model), _image_of(model))
        finally:
            if before is None:
                os.environ.pop("ZENML_ACTIVE_STACK_ID", None)
            else:
                os.environ["ZENML_ACTIVE_STACK_ID"] = before


def _orchestrator_flavor(model: Any) -> str:
    from zenml.enums import StackComponentType

    comps = (model.components or {}).get(StackComponentType.ORCHESTRATOR) or []
    return str(comps[0].flavor_name) if comps else "local"


def _ensure_flavor(flavor: str) -> None:
    import_zenml()
    from zenml.enums import StackComponentType

    client = get_client()
    found = client.list_flavors(name=flavor, type=StackComponentType.ORCHESTRATOR, size=1)
    if found.items:
        _check_requirements(flavor, str(found.items[0].integration or ""))
        return
    if flavor == SUBPROCESS_FLAVOR:
        stored_paths.install()  # ZenML records the flavor's class under its public name
        client.create_flavor(
            source=stored_paths.SUBPROCESS_FLAVOR_SOURCE,
            component_type=StackComponentType.ORCHESTRATOR,
        )
        return
    raise KitaruValidationError(
        f"Unknown orchestrator flavor {flavor!r}. Built in: local, local_docker, "
        f"{SUBPROCESS_FLAVOR}; others (kubernetes, vertex, ...) need their ZenML "
        "integration installed (`zenml integration install kubernetes`).",
        field="orchestrator",
    )


def _check_requirements(flavor: str, integration: str) -> None:
    """Refuse a flavor whose ZenML integration's packages are not installed here.

    ZenML registers every integration's flavors whether or not their packages are
    installed; a stack of one then fails at run time with a long traceback.
    """
    missing = missing_requirements(integration)
    if missing is None:
        return
    needed = " ".join(shlex.quote(r) for r in missing)
    raise BackendError(
        f"Orchestrator flavor {flavor!r} needs ZenML's {integration} integration, whose "
        f"packages are not installed: run `pip install {needed}` (or `zenml integration "
        f"install {integration}`), then create the stack again. Nothing was registered.",
        operation="stack create",
    )


def delete_stack(name: str) -> dict[str, Any]:
    """Delete stack ``name`` and the components kitaru made for it alone.

    The ``default`` stack and the stack flows run on now are refused.
    """
    client = get_client()
    if name == "default":
        raise KitaruValidationError("The default stack cannot be deleted.", field="name")
    stack = _find(name)
    current = os.environ.get(ENV_STACK, "").strip()
    active = client.active_stack_model
    if stack.id == active.id or current == name:
        where = f"{ENV_STACK} names it" if current == name else "it is the active stack"
        raise KitaruValidationError(
            f"Stack {name!r} cannot be deleted: {where}. Switch first "
            "(`kitaru stack use default`).",
            field="name",
        )
    info = describe(stack, active.id)
    own = [
        (kind, comp.id)
        for kind, comps in (stack.components or {}).items()
        for comp in comps
        if comp.name.startswith(f"{name}-")  # made by `kitaru stack create NAME`
    ]
    with warnings.catch_warnings():
        # SQLAlchemy's note on ZenML's own delete of the composition rows.
        warnings.simplefilter("ignore")
        client.delete_stack(stack.id)
    for kind, comp_id in own:
        # Kept if another stack uses it too (ZenML refuses to delete it then).
        with contextlib.suppress(Exception):
            client.delete_stack_component(comp_id, kind)
    return info


def create_stack(
    name: str,
    orchestrator: str,
    *,
    artifact_store: str | None = None,
    options: dict[str, str] | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """Register an orchestrator (and artifact store, image builder) and a stack of them.

    ``image`` (container orchestrators only) is the image runs start from, as it
    is: it must hold Python, kitaru and the flow's dependencies. Everything is
    checked before anything is registered; if a registration fails, the
    components registered so far are removed again.
    """
    import_zenml()
    from zenml.enums import StackComponentType

    client = get_client()
    if not name or name != name.strip():
        raise KitaruValidationError(f"Invalid stack name {name!r}.", field="name")
    if client.list_stacks(name=f"equals:{name}", size=1).items:
        raise KitaruValidationError(f"Stack {name!r} already exists.", field="name")
    if image is not None and (orchestrator not in CONTAINER_FLAVORS or not image.strip()):
        raise KitaruValidationError(
            f"--image {image!r} needs a container orchestrator "
            f"({', '.join(sorted(CONTAINER_FLAVORS))}) and a non-empty image name.",
            field="image",
        )
    _ensure_flavor(orchestrator)
    tag = uuid.uuid4().hex[:6]
    made: list[tuple[Any, str]] = []
    try:
        orch = client.create_stack_component(
            f"{name}-orchestrator-{tag}",
            orchestrator,
            StackComponentType.ORCHESTRATOR,
            dict(options or {}),
        )
        made.append((StackComponentType.ORCHESTRATOR, str(orch.id)))
        comps: dict[Any, Any] = {StackComponentType.ORCHESTRATOR: orch.id}
        if artifact_store:
            flavor = "local" if "://" not in artifact_store else artifact_store.split("://")[0]
            store = client.create_stack_component(
                f"{name}-artifacts-{tag}",
                flavor,
                StackComponentType.ARTIFACT_STORE,
                {"path": artifact_store},
            )
            made.append((StackComponentType.ARTIFACT_STORE, str(store.id)))
            comps[StackComponentType.ARTIFACT_STORE] = store.id
        else:
            comps[StackComponentType.ARTIFACT_STORE] = _default_artifact_store(client)
        if orchestrator in CONTAINER_FLAVORS:
            builder = client.create_stack_component(
                f"{name}-image-builder-{tag}", "local", StackComponentType.IMAGE_BUILDER, {}
            )
            made.append((StackComponentType.IMAGE_BUILDER, str(builder.id)))
            comps[StackComponentType.IMAGE_BUILDER] = builder.id
        stack = client.create_stack(name, comps, labels={IMAGE_LABEL: image} if image else None)
    except Exception as exc:
        for kind, comp_id in reversed(made):
            with contextlib.suppress(Exception):
                client.delete_stack_component(comp_id, kind)
        if isinstance(exc, KitaruValidationError):
            raise
        full = full_disk_file(exc, paths().local_store_db)
        if full is not None:
            raise disk_full_error(full) from None
        raise KitaruValidationError(
            f"Cannot create stack {name!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}",
            field="stack",
        ) from None
    return describe(stack, client.active_stack_model.id)


def _default_artifact_store(client: Any) -> Any:
    from zenml.enums import StackComponentType

    stack = client.get_stack("default", allow_name_prefix_match=False, hydrate=True)
    return stack.components[StackComponentType.ARTIFACT_STORE][0].id
