"""A full disk, told apart from other storage errors so that it is said in one line.

SQLite reports a full disk in several ways: ``SQLITE_FULL`` when a write needs a
page, but ``disk I/O error`` (``SQLITE_IOERR_SHMSIZE``) when even a reader cannot
create the shared-memory file of a WAL database. The I/O errors are taken for a
full disk only when the disk indeed has (almost) no space left.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from kitaru._config import paths
from kitaru.errors import BackendError
from kitaru.errors.one_line import one_line

# Less than this is "no space": SQLite's shared-memory file alone needs 32 KiB.
_LOW_SPACE = 1 << 20


def space_left(path: Path) -> int | None:
    """Bytes available to this user on the file system holding ``path`` (None: unknown)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                st = os.statvfs(candidate)
            except OSError:
                return None
            return st.f_bavail * st.f_frsize
    return None


def store_disk_full() -> bool:
    """True if the disk holding kitaru's local store has (almost) no space left."""
    left = space_left(paths().local_store_db)
    return left is not None and left < _LOW_SPACE


def full_disk_file(exc: BaseException, near: Path) -> Path | None:
    """The file that could not be written because its disk is full, or None.

    ``near`` is the file a SQLite error is about (SQLite does not say).
    """
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        for candidate in (seen, getattr(seen, "orig", None)):
            if isinstance(candidate, OSError) and candidate.errno in (errno.ENOSPC, errno.EDQUOT):
                return Path(candidate.filename) if candidate.filename else near
            if isinstance(candidate, sqlite3.Error):
                name = getattr(candidate, "sqlite_errorname", "") or ""
                if name == "SQLITE_FULL":
                    return near
                if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
                    left = space_left(near)
                    return near if left is not None and left < _LOW_SPACE else None
        seen = seen.__cause__ or seen.__context__
    return None


def disk_full_error(path: Path, *, verb: str = "write") -> BackendError:
    """The one-line error for a write (or an open that must write) a full disk refused."""
    return one_line(
        BackendError(
            f"Cannot {verb} {path}: the disk holding it is full (no space left on the device). "
            "Free some space and run the command again; nothing was changed.",
            operation=verb,
        )
    )
