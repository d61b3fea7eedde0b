"""Is the embedded store whole? Read with ``sqlite3`` alone, without importing ZenML.

A store is made by copying a finished one into place (see
:mod:`kitaru._zenml.store_template`), so a store kitaru made is either absent or
whole. What else can be found on disk, and what happens to it:

- ``new``: no database yet; the next command that needs the store makes it;
- ``ok``: a whole store of the installed ZenML's schema;
- ``outdated``: a whole store of an older schema; ZenML migrates it (under the
  store lock) the next time it opens it;
- ``incomplete``: a database whose creation was interrupted (by an older kitaru,
  or by ZenML itself): no schema version, or no default user, project or stack.
  If it holds no secret and no run it is redone; otherwise it is reported;
- ``damaged``: a file that is not a store (empty, not SQLite, corrupt).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kitaru._config import Paths
from kitaru._config.store_access import first_row
from kitaru.errors import BackendError

StoreState = Literal["new", "ok", "outdated", "incomplete", "damaged"]


@dataclass(frozen=True)
class StoreHealth:
    """What :func:`inspect_store` found; ``detail`` says why for the last two states."""

    state: StoreState
    detail: str = ""

    @property
    def usable(self) -> bool:
        """True if the store can be opened as it is (ZenML migrates an outdated one)."""
        return self.state in ("ok", "outdated")


def installed_zenml_version() -> str:
    """The installed ZenML's version, read from its package metadata (no import)."""
    from importlib.metadata import version

    return version("zenml")


def schema_version(db: Path) -> str | None:
    """The schema version (alembic revision) of the database ``db``, or None."""
    if not db.is_file():
        return None
    try:
        row = first_row(db, "SELECT version_num FROM alembic_version")
    except (sqlite3.Error, BackendError):
        return None
    return str(row[0]) if row else None


def inspect_store(p: Paths) -> StoreHealth:
    """The state of the store in ``p`` (see the module docstring)."""
    db = p.local_store_db
    if not db.exists():
        return StoreHealth("new")
    if not db.is_file():
        return StoreHealth("damaged", "is not a file")
    if db.stat().st_size == 0:
        return StoreHealth("damaged", "is empty (0 bytes)")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return StoreHealth("ok")  # unreadable for another reason: opening it says why
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in tables:
            return StoreHealth("incomplete", "has no schema version (its creation was interrupted)")
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if version is None:
            return StoreHealth("incomplete", "has no schema version (its creation was interrupted)")
        for table, what in (("user", "user"), ("project", "project"), ("stack", "stack")):
            if table not in tables or conn.execute(f'SELECT 1 FROM "{table}"').fetchone() is None:
                return StoreHealth(
                    "incomplete", f"has no default {what} (its creation was interrupted)"
                )
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            return StoreHealth("damaged", "is not a readable SQLite database")
        return StoreHealth("ok")  # busy or unreadable: opening it says why
    finally:
        conn.close()
    return StoreHealth("ok" if version[0] == installed_zenml_version() else "outdated")


def holds_user_data(p: Paths) -> bool:
    """True if the store holds a secret or a run (or cannot be read to tell)."""
    try:
        conn = sqlite3.connect(f"file:{p.local_store_db}?mode=ro", uri=True, timeout=30)
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            return any(
                conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() is not None
                for t in ("secret", "pipeline_run", "artifact_version")
                if t in tables
            )
        finally:
            conn.close()
    except sqlite3.Error:
        return True


def damaged_store_error(p: Paths, detail: str) -> BackendError:
    """The one-line error for a store database that is not a usable store."""
    key = f" (the key {p.key_file} is kept)" if p.key_file.exists() else ""
    return BackendError(
        f"The local store database {p.local_store_db} {detail}: the store is damaged. "
        f"Restore it from your backup, or move it away to start an empty store{key}; "
        "kitaru did not change anything.",
        operation="open",
    )
