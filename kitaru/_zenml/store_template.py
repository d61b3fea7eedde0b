"""A new embedded store in a blink: a finished store copied into place.

ZenML takes many seconds to create and migrate a new SQLite store, and a kill in
the middle leaves a half-made database that ZenML can never open again. So kitaru
lets ZenML do that once per installed ZenML version, in a separate process and a
scratch directory, and keeps the result as a template in the user's cache
directory (``KITARU_CACHE_DIR``, or the platform's cache directory). A new
config directory then gets a copy of it:

1. the key is created (written beside and linked into place);
2. the template database is copied beside the final path, and the rows that must
   be unique to a store (default user, project, stack and its components, the
   server settings) get fresh IDs;
3. ZenML's ``config.yaml`` is written pointing at the new database, with the new
   IDs as the active project and stack;
4. the copy is renamed onto ``zenml.db``: the store exists whole or not at all.

All of this runs under the store lock; opening a whole, up-to-date store takes no
lock. A half-made store left by an older kitaru is redone if it holds nothing
(see :mod:`kitaru._zenml.store_health`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from kitaru._config import Paths, ensure_private_dir, file_lock, paths, write_private_file
from kitaru._config.store_key import load_or_create_key
from kitaru._zenml.store_health import (
    StoreHealth,
    damaged_store_error,
    holds_user_data,
    inspect_store,
    installed_zenml_version,
    schema_version,
)
from kitaru._zenml.stored_paths import KEYED_STORE_CLASS_PATH
from kitaru.errors import BackendError

ENV_CACHE_DIR = "KITARU_CACHE_DIR"
_DIR_MARK = "__KITARU_ZENML_DIR__"
# Rows that identify one store; every other row of a new store (flavors, the
# schema version) is the same in every store of a ZenML version.
_FRESH_ID_TABLES = ("project", "user", "stack", "stack_component", "server_settings")

logger = logging.getLogger("kitaru")

# Set for the process that builds a template: there ZenML creates the store itself.
_ENV_BUILDING = "KITARU_BUILDING_STORE_TEMPLATE"
_BUILD = "from kitaru._zenml.client import get_client; get_client()"


def cache_dir() -> Path:
    """kitaru's cache directory (``KITARU_CACHE_DIR`` or the platform's default)."""
    raw = os.environ.get(ENV_CACHE_DIR, "").strip()
    if raw:
        return Path(raw).expanduser().resolve()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "kitaru"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "kitaru" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kitaru"


def template_dir() -> Path:
    """Where the template for the installed ZenML version is kept."""
    return cache_dir() / "store-template" / f"zenml-{installed_zenml_version()}"


def ensure_store(p: Paths | None = None) -> StoreHealth:
    """Make sure the embedded store of ``p`` exists and is whole; return its state.

    Raises:
        BackendError: the store is damaged, or half-made and holding data.
        EncryptionKeyError: the key does not fit the store.
    """
    p = p or paths()
    health = inspect_store(p)
    if health.usable or os.environ.get(_ENV_BUILDING):
        return health
    if health.state == "damaged":
        raise damaged_store_error(p, health.detail)
    with file_lock(p.store_lock):
        health = inspect_store(p)
        if health.usable:
            return health
        if health.state == "damaged":
            raise damaged_store_error(p, health.detail)
        if health.state == "incomplete":
            if holds_user_data(p):
                raise damaged_store_error(p, health.detail)
            _discard_half_made(p, health.detail)
        with _notice(f"kitaru: creating the local store in {p.root} (first use) ..."):
            load_or_create_key(p)
            _install(ensure_template(), p)
    return StoreHealth("ok")


def _discard_half_made(p: Paths, detail: str) -> None:
    db = p.local_store_db
    for path in _database_files(db):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    logger.warning("The local store %s %s and held nothing; made it again.", db, detail)


def _database_files(db: Path) -> list[Path]:
    return [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))]


# ------------------------------------------------------------------ installing a copy


def _install(template: Path, p: Paths) -> None:
    db = p.local_store_db
    ensure_private_dir(p.zenml)  # the store's metadata (secret names) is for this user only
    ensure_private_dir(db.parent)
    for stale in db.parent.glob(f".{db.name}.new-*"):
        stale.unlink()  # left by a killed install; we hold the store lock
    # A journal beside a database that is not there would be replayed into the copy.
    for leftover in _database_files(db)[1:]:
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    staged = db.with_name(f".{db.name}.new-{os.getpid()}")
    try:
        shutil.copyfile(template / "zenml.db", staged)
        os.chmod(staged, 0o600)
        ids = _refresh_ids(staged)
        write_private_file(p.zenml / "config.yaml", _config_yaml(template, p, ids))
        os.replace(staged, db)
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
    _fsync_dir(db.parent)


def _refresh_ids(db: Path) -> dict[str, str]:
    """Give the store-identifying rows of ``db`` new IDs; returns table -> first new ID."""
    now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = sqlite3.connect(str(db), isolation_level=None)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        refs: dict[str, list[tuple[str, str]]] = {}
        for table in tables:
            for fk in conn.execute(f'PRAGMA foreign_key_list("{table}")'):
                if fk[4] in (None, "id"):
                    refs.setdefault(fk[2], []).append((table, fk[3]))
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("BEGIN IMMEDIATE")
        first: dict[str, str] = {}
        for table in _FRESH_ID_TABLES:
            columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
            for (old,) in conn.execute(f'SELECT id FROM "{table}"').fetchall():
                new = uuid.uuid4().hex
                first.setdefault(table, new)
                conn.execute(f'UPDATE "{table}" SET id = ? WHERE id = ?', (new, old))
                for ref_table, column in refs.get(table, []):
                    conn.execute(
                        f'UPDATE "{ref_table}" SET "{column}" = ? WHERE "{column}" = ?', (new, old)
                    )
                for stamp in ("created", "updated"):
                    if stamp in columns:
                        conn.execute(f'UPDATE "{table}" SET {stamp} = ? WHERE id = ?', (now, new))
        conn.execute("COMMIT")
    finally:
        conn.close()
    fd = os.open(db, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return first


def _config_yaml(template: Path, p: Paths, ids: dict[str, str]) -> str:
    import yaml

    config = yaml.safe_load((template / "config.yaml").read_text(encoding="utf-8"))
    config = _replace_mark(config, str(p.zenml))
    # Off in the file too: a flow puts ZENML_ANALYTICS_OPT_IN back when it ends.
    config["analytics_opt_in"] = False
    config["user_id"] = str(uuid.UUID(ids["server_settings"]))
    config["active_project_id"] = str(uuid.UUID(ids["project"]))
    config["active_stack_id"] = str(uuid.UUID(ids["stack"]))
    secrets = (config.get("store") or {}).get("secrets_store")
    if isinstance(secrets, dict) and secrets.get("class_path"):
        # Its public name, whichever kitaru built the (cached) template.
        secrets["class_path"] = KEYED_STORE_CLASS_PATH
    return str(yaml.safe_dump(config, sort_keys=True))


def _replace_mark(value: Any, zenml_dir: str) -> Any:
    if isinstance(value, str):
        return value.replace(_DIR_MARK, zenml_dir)
    if isinstance(value, dict):
        return {k: _replace_mark(v, zenml_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_mark(v, zenml_dir) for v in value]
    return value


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------ the template


def ensure_template() -> Path:
    """The template for the installed ZenML version, built first if missing (slow)."""
    target = template_dir()
    if _template_ready(target):
        return target
    ensure_private_dir(target.parent)
    with file_lock(target.parent / "build.lock"):
        if not _template_ready(target):
            _build(target)
    return target


def _template_ready(target: Path) -> bool:
    return (target / "config.yaml").is_file() and schema_version(
        target / "zenml.db"
    ) == installed_zenml_version()


def _build(target: Path) -> None:
    for stale in target.parent.glob(".build-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed build; we hold its lock
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        root = scratch / "config"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ZENML_", "KITARU_SERVER_URL", "KITARU_API_KEY"))
        }
        env["KITARU_CONFIG_PATH"] = str(root)
        env[_ENV_BUILDING] = "1"
        env["ZENML_ANALYTICS_OPT_IN"] = "false"
        proc = subprocess.run(
            [sys.executable, "-c", _BUILD],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        built = Paths(root)
        if proc.returncode != 0 or not built.local_store_db.is_file():
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            raise BackendError(
                f"Could not create the local store template in {target.parent}: {lines[-1]}",
                operation="create",
            )
        out = scratch / "template"
        out.mkdir()
        shutil.copyfile(built.local_store_db, out / "zenml.db")
        text = (built.zenml / "config.yaml").read_text(encoding="utf-8")
        (out / "config.yaml").write_text(text.replace(str(built.zenml), _DIR_MARK), "utf-8")
        os.rename(out, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _notice(text: str) -> Any:
    """A spinner on a terminal while the store is made (seconds when the template is built)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield
