"""Checkpoint outputs read without ZenML, where ZenML's built-in materializers wrote them.

``kitaru executions show`` loads each checkpoint's output. On a verified embedded
store (see :mod:`kitaru._zenml.run_reads`) an output in the local artifact store
written by one of ZenML 0.98's built-in materializers is read here from its files,
as that materializer reads it:

- ``BuiltInMaterializer`` (bool, float, int, str, None): ``data.json``;
- ``BuiltInContainerMaterializer`` (dict, list, set, tuple) when it wrote the
  whole value as ``data.json`` (cast back to a tuple or set as ZenML does);
- ``BytesMaterializer``: ``data.txt``, as bytes.

Anything else (another materializer, an element-wise container, a remote or
moved artifact store, a file that does not read) is :data:`NEEDS_ZENML`: the
caller loads that output through ZenML's client.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from kitaru._config import paths
from kitaru._zenml import run_reads

NEEDS_ZENML: Any = object()  # an output only ZenML's client can load

_BUILT_IN = "zenml.materializers.built_in_materializer"
_BASIC = {"bool", "float", "int", "str", "NoneType"}
_CONTAINERS: dict[str, type] = {"dict": dict, "list": list, "set": set, "tuple": tuple}


def _source(text: str) -> tuple[str, str]:
    source = json.loads(text)
    return str(source.get("module")), str(source.get("attribute"))


def _store_root(store_id: str, config: dict[str, Any], stores_dir: str) -> str:
    """The local artifact store's root, as ZenML's ``fixed_root_path`` gives it."""
    if config.get("path"):
        return str(config["path"])
    return str(Path(stores_dir) / str(uuid.UUID(store_id)))


def load_output(uri: str, materializer: str, data_type: str) -> Any:
    """The value a built-in materializer wrote at ``uri`` (``NEEDS_ZENML`` if not one of them).

    ``materializer`` and ``data_type`` are the artifact version's recorded sources (JSON).
    """
    (module, reader), (type_module, kind) = _source(materializer), _source(data_type)
    if module != _BUILT_IN or type_module != "builtins":
        return NEEDS_ZENML
    where = Path(uri)
    if reader == "BuiltInMaterializer" and kind in _BASIC:
        return json.loads((where / "data.json").read_text(encoding="utf-8"))
    if reader == "BytesMaterializer" and kind == "bytes":
        return (where / "data.txt").read_bytes()
    if reader == "BuiltInContainerMaterializer" and kind in _CONTAINERS:
        if not (where / "data.json").is_file():
            return NEEDS_ZENML  # saved element by element
        value = json.loads((where / "data.json").read_text(encoding="utf-8"))
        cast = _CONTAINERS[kind]
        if isinstance(value, cast):
            return value
        return cast(value) if cast in (set, tuple) else NEEDS_ZENML
    return NEEDS_ZENML


def first_outputs(step_ids: dict[str, str]) -> dict[str, Any]:
    """Each step's output (``NEEDS_ZENML`` where ZenML must load it), by invocation ID.

    ``step_ids`` maps invocation IDs to step run IDs; steps without an output are
    absent. Raises SchemaMismatch where the store is not a verified one.
    """
    by_step = {uuid.UUID(step_id).hex: name for name, step_id in step_ids.items()}
    if not by_step:
        return {}
    found: dict[str, list[tuple[Any, ...]]] = {}
    with run_reads.store() as conn:
        rows = conn.execute(
            "SELECT o.step_id, a.uri, a.materializer, a.data_type, c.id, c.flavor, "
            "c.configuration FROM step_run_output_artifact o "
            "JOIN artifact_version a ON a.id = o.artifact_id "
            "LEFT JOIN stack_component c ON c.id = a.artifact_store_id "
            f"WHERE o.step_id IN ({','.join('?' * len(by_step))})",
            list(by_step),
        ).fetchall()
    for step_id, *row in rows:
        found.setdefault(by_step[step_id], []).append(tuple(row))
    out: dict[str, Any] = {}
    for name, outputs in found.items():
        # Several outputs: which one ZenML lists first is its own choice.
        if len(outputs) != 1:
            out[name] = NEEDS_ZENML
            continue
        uri, materializer, data_type, store_id, flavor, configuration = outputs[0]
        try:
            config = json.loads(base64.b64decode(configuration or "") or b"{}")
        except ValueError:
            config = None
        stores_dir = str(paths().local_store_db.parent.parent)
        out[name] = read_in_store(
            uri, materializer, data_type, (store_id, flavor, config), stores_dir
        )
    return out


def read_in_store(
    uri: str, materializer: str, data_type: str, store: tuple[Any, Any, Any], stores_dir: str
) -> Any:
    """The output at ``uri`` if a local artifact store holds it (``NEEDS_ZENML`` if not).

    ``store`` is the ID, flavor and configuration (a dict) of the artifact store
    ZenML recorded for the artifact version; ``stores_dir`` is where ZenML's
    client keeps local stores without a configured path (its ``local_stores_path``).
    """
    store_id, flavor, config = store
    try:
        if flavor != "local" or not isinstance(config, dict):
            return NEEDS_ZENML
        if not uri.startswith(_store_root(store_id, config, stores_dir)):
            return NEEDS_ZENML
        return load_output(uri, materializer, data_type)
    except (OSError, ValueError, TypeError, AttributeError):
        return NEEDS_ZENML  # ZenML's client tries, and says so if it cannot
