"""Checks on kitaru's config directory before the embedded store is opened (no ZenML import).

- Permissions: the directory, ZenML's folders in it and the store database
  (secret names, run records) are for the user only. Anything wider (0777,
  0644) is tightened with a warning, as ``secrets.key`` is; a store this
  process just created is tightened without one (SQLite and ZenML create their
  files with the umask's mode). ``chmod`` never follows a symlink.
- One store: ZenML's ``config.yaml`` keeps the database's absolute path, so a
  config directory that was moved or copied would leave ZenML's client on the
  old database while kitaru reads the new one. When only the database under
  kitaru's directory exists, ZenML's path is rewritten to it; when both exist,
  kitaru refuses with one line naming both.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

from kitaru._config import Paths, tighten_mode, write_private_file
from kitaru.errors import BackendError

logger = logging.getLogger("kitaru")

_checked: set[Path] = set()
_checked_lock = threading.Lock()
# ``database: /abs/path/zenml.db`` in the ``store:`` section of ZenML's config.yaml.
_DATABASE_LINE = re.compile(r"^\s+database:\s*(\S.*?)\s*$", re.MULTILINE)
_DB_TAIL = ("local_stores", "default_zen_store", "zenml.db")


def tighten_store(p: Paths, *, warn: bool) -> None:
    """Take group/other permissions off the config directory's store paths.

    A path is worth a warning only if other users could reach it: a 0644
    database inside a 0700 folder was never readable by them.
    """
    db = p.local_store_db
    folders = [p.root, p.zenml, db.parent.parent, db.parent]
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    reachable = True
    for path in folders + files:
        try:
            before = os.lstat(path).st_mode
        except OSError:
            continue
        old = tighten_mode(path)
        if old is not None and warn and reachable:
            logger.warning(
                "%s had mode %s, open to other users; it is now private to you. kitaru's "
                "store (secret names, run records) may have been read by them.",
                path,
                oct(old),
            )
        if path in folders:
            reachable = reachable and bool(before & 0o011)


def align_zenml_database(p: Paths) -> None:
    """Point ZenML's config at the database under ``p.root`` (see the module docstring)."""
    config = p.zenml / "config.yaml"
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    found = _DATABASE_LINE.search(text)
    if found is None:
        return
    recorded = Path(found.group(1).strip("'\""))
    ours = p.local_store_db
    if recorded == ours or recorded.parts[-3:] != _DB_TAIL:
        return
    if recorded.exists():
        if not ours.exists():
            return  # the database is still only where ZenML records it
        raise BackendError(
            f"Two kitaru stores: {ours} (in this config directory) and {recorded} (which "
            f"{config} names, from before the directory was copied). Remove or move one of "
            "them; kitaru will not use one while ZenML uses the other.",
            operation="open",
        )
    if not ours.exists():
        return
    old_root, new_root = str(recorded.parents[2]), str(p.zenml)
    write_private_file(config, text.replace(old_root + os.sep, new_root + os.sep))


def check_store_dir(p: Paths) -> None:
    """Permissions and the database path of ``p``, once per process and directory."""
    with _checked_lock:
        if p.root in _checked:
            return
        tighten_store(p, warn=True)
        align_zenml_database(p)
        _checked.add(p.root)
