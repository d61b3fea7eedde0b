"""The embedded store written by plain inserts, where kitaru knows its schema.

ZenML's own writes build and load full responses around each row (see
``lean_steps``). Where this process's store is the embedded SQLite database at
the schema revision kitaru is pinned to, kitaru writes a few rows of ZenML's
tables itself, as ZenML would write them; anywhere else (a server, another
revision) the callers use ZenML's client.
"""

from __future__ import annotations

import json
import uuid
import weakref
from datetime import UTC, datetime
from typing import Any

from kitaru._config import per_process_cache
from kitaru._config.store_access import SCHEMA_VERSION

# Engine -> whether it is the embedded store at the pinned revision (checked once).
_verified: weakref.WeakKeyDictionary[Any, bool] = per_process_cache(weakref.WeakKeyDictionary())


def tables(*names: str) -> list[Any]:
    """ZenML's tables ``names``, as SQLAlchemy tables (ZenML's schema classes define them)."""
    import zenml.zen_stores.schemas  # noqa: F401 - registers every table
    from sqlmodel import SQLModel

    found = SQLModel.metadata.tables
    return [found[name] for name in names]


def now() -> datetime:
    """The time as ZenML stores it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def verified_engine() -> Any | None:
    """The engine of this process's store if kitaru may write it; None otherwise."""
    from zenml.client import Client

    engine = getattr(Client().zen_store, "engine", None)
    if engine is None or engine.dialect.name != "sqlite":
        return None
    ok = _verified.get(engine)
    if ok is None:
        from sqlalchemy import text

        with engine.connect() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        ok = _verified[engine] = row is not None and row[0] == SCHEMA_VERSION
    return engine if ok else None


def record(step_run_id: str, metadata: dict[str, Any]) -> bool:
    """Write run metadata on a step run; False (nothing written) where ZenML's client must.

    ZenML's client skips, with a warning, a value too large or of a type it cannot
    store: such metadata is left to it, so that stays as it was.
    """
    engine = verified_engine()
    if engine is None:
        return False
    from sqlalchemy import insert, select
    from zenml.constants import TEXT_FIELD_MAX_LENGTH
    from zenml.metadata.metadata_types import get_metadata_type
    from zenml.utils.json_utils import pydantic_encoder

    links, entries, steps = tables("run_metadata_resource", "run_metadata", "step_run")

    rows = []
    for key, value in metadata.items():
        dumped = json.dumps(value, default=pydantic_encoder)
        try:
            kind = get_metadata_type(value).value
        except ValueError:
            return False
        if len(dumped) > TEXT_FIELD_MAX_LENGTH:
            return False
        rows.append((key, dumped, kind))
    step_id = uuid.UUID(step_run_id)
    stamp = now()
    with engine.begin() as conn:
        owner = conn.execute(
            select(steps.c.user_id, steps.c.project_id).where(steps.c.id == step_id)
        ).first()
        if owner is None:
            return False
        for key, dumped, kind in rows:
            meta_id = uuid.uuid4()
            conn.execute(
                insert(entries).values(
                    id=meta_id,
                    created=stamp,
                    updated=stamp,
                    user_id=owner[0],
                    project_id=owner[1],
                    key=key,
                    value=dumped,
                    type=kind,
                )
            )
            conn.execute(
                insert(links).values(
                    id=uuid.uuid4(),
                    resource_id=step_id,
                    resource_type="step_run",
                    run_metadata_id=meta_id,
                )
            )
    return True
