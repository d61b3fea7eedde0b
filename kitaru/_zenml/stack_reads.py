"""Reading stacks without ZenML: ``kitaru stack list/current/show`` in a blink.

Opening ZenML costs seconds per process; listing a handful of stacks costs
milliseconds. So the read commands take one of two fast paths and fall back to
ZenML's client (:mod:`kitaru._zenml.stacks`) whenever anything differs from what
was verified:

- the embedded store: a read-only SQLite connection to ZenML 0.98's ``stack``,
  ``stack_component`` and ``stack_composition`` tables, taken only when the
  schema's alembic revision is the pinned one and the tables have the expected
  columns (component configuration and labels are base64 of JSON there);
- a server of the pinned version: ``GET /api/v1/stacks`` and ``/components``
  (hydrated) through the REST backend's HTTP client, as the secret commands do.

The active stack is resolved as ZenML's client resolves it: ``ZENML_ACTIVE_STACK_ID``,
else ``active_stack_id`` in ZenML's ``config.yaml`` for kitaru's store, else the
stack named ``default``. A ZenML repository (``.zen``) in sight, which ZenML
would let override that, sends the command to ZenML.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from kitaru._config import paths, store_access
from kitaru._config.connection import server_config_dir, server_url

IMAGE_LABEL = "kitaru.image"
_COLUMNS = {
    "stack": {"id", "created", "name", "labels"},
    "stack_component": {"id", "name", "type", "flavor", "configuration"},
    "stack_composition": {"stack_id", "component_id"},
}
_ACTIVE_LINE = re.compile(r"^active_stack_id:\s*['\"]?([0-9a-fA-F-]{32,36})['\"]?\s*$", re.M)


def read_stacks() -> tuple[list[dict[str, Any]], str] | None:
    """Every stack (ZenML's order: by creation) and the active stack's ID, or None for ZenML."""
    if _zenml_repository_in_sight():
        return None
    url = server_url()
    stacks = _server_stacks() if url else _local_stacks()
    if stacks is None:
        return None
    active = _active_id(stacks, url)
    if active is None:
        return None
    for stack in stacks:
        stack["active"] = stack["id"] == active
    return stacks, active


# --------------------------------------------------------------------- active stack


def _zenml_repository_in_sight() -> bool:
    if os.environ.get("ZENML_REPOSITORY_PATH") or os.environ.get("ZENML_REPOSITORY_DIRECTORY_NAME"):
        return True
    here = Path.cwd()
    return any((d / ".zen").is_dir() for d in (here, *here.parents))


def _active_id(stacks: list[dict[str, Any]], url: str | None) -> str | None:
    ids = {s["id"] for s in stacks}
    from_env = os.environ.get("ZENML_ACTIVE_STACK_ID", "").strip()
    if from_env:
        return _canonical(from_env) if _canonical(from_env) in ids else None
    config = (server_config_dir(url) if url else paths().zenml) / "config.yaml"
    try:
        found = _ACTIVE_LINE.search(config.read_text(encoding="utf-8"))
    except OSError:
        found = None
    if found and _canonical(found.group(1)) in ids:
        return _canonical(found.group(1))
    # ZenML then falls back to the default stack (and records it on its next start).
    defaults = [s["id"] for s in stacks if s["name"] == "default"]
    return defaults[0] if len(defaults) == 1 else None


def _canonical(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _stack(
    stack_id: str, name: str, labels: Any, components: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """A stack in the shape :func:`kitaru._zenml.stacks.describe` gives."""
    ordered = {kind: components[kind] for kind in sorted(components)}
    orchestrator = (ordered.get("orchestrator") or [{}])[0]
    image = (labels or {}).get(IMAGE_LABEL) if isinstance(labels, dict) else None
    return {
        "name": name,
        "id": stack_id,
        "active": False,
        "orchestrator": orchestrator.get("flavor"),
        "image": str(image) if image else None,
        "components": ordered,
    }


def _component(name: str, flavor: str, config: Any) -> dict[str, Any]:
    config = config if isinstance(config, dict) else {}
    return {
        "name": name,
        "flavor": flavor,
        "config": {k: v for k, v in config.items() if v is not None},
    }


# --------------------------------------------------------------------- embedded store


def _b64_json(raw: Any) -> Any:
    if raw is None:
        return None
    data = raw if isinstance(raw, bytes) else str(raw).encode()
    return json.loads(base64.b64decode(data))


def _local_stacks() -> list[dict[str, Any]] | None:
    db = paths().local_store_db
    if not db.exists():
        return None  # a new store is made by ZenML
    try:
        conn = store_access.open_read_only(db)
    except sqlite3.Error:
        return None
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if version is None or version[0] != store_access.SCHEMA_VERSION:
            return None
        for table, wanted in _COLUMNS.items():
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            if not wanted <= have:
                return None
        comps: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for stack_id, name, kind, flavor, config in conn.execute(
            "SELECT sc.stack_id, c.name, c.type, c.flavor, c.configuration "
            "FROM stack_composition sc JOIN stack_component c ON c.id = sc.component_id "
            "ORDER BY c.created, c.id"
        ):
            comps.setdefault(stack_id, {}).setdefault(kind, []).append(
                _component(name, flavor, _b64_json(config))
            )
        return [
            _stack(store_access.format_id(sid), name, _b64_json(labels), comps.get(sid, {}))
            for sid, name, labels in conn.execute(
                "SELECT id, name, labels FROM stack ORDER BY created, id"
            )
        ]
    except (sqlite3.Error, ValueError, TypeError):
        return None  # anything unexpected: ZenML knows its own store
    finally:
        conn.close()


# --------------------------------------------------------------------------- server


def _server_stacks() -> list[dict[str, Any]] | None:
    from kitaru._zenml.client import server_session

    rest = server_session()
    if rest is None:
        return None  # a server of another version: ZenML's client speaks it
    try:
        configs = {
            str(c["id"]): (c.get("metadata") or {}).get("configuration")
            for c in rest.get_all("/components", "read")
        }
        out = []
        for item in rest.get_all("/stacks", "read"):
            meta = item.get("metadata") or {}
            comps = {
                str(kind): [
                    _component(
                        str(c["name"]),
                        str((c.get("body") or {}).get("flavor_name")),
                        configs.get(str(c["id"])),
                    )
                    for c in listed
                ]
                for kind, listed in (meta.get("components") or {}).items()
            }
            out.append(_stack(str(item["id"]), str(item["name"]), meta.get("labels"), comps))
        return out
    except (KeyError, TypeError, AttributeError):
        return None
