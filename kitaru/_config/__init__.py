"""Where kitaru keeps its state, and the environment variables that move it.

Everything kitaru writes lives under one directory (``KITARU_CONFIG_PATH``, or a
per-user default), so a user's own ZenML setup is never touched:

- ``zenml/``: ZenML's config directory for kitaru (``ZENML_CONFIG_PATH``), with the
  embedded SQLite store and local artifact store under ``zenml/local_stores/``;
- ``secrets.key`` / ``secrets.key.check``: the encryption key of the embedded
  secret store (0600) and a fingerprint that detects a wrong key;
- ``secrets.lock`` / ``store.lock``: file locks that serialise writers of the
  embedded store, and its creation and migration, across processes;
- ``models.json``: the model alias registry;
- ``server.json``: the server connection made by ``kitaru login`` (0600).

This package is the ground floor under both wings (:mod:`kitaru._store`, where
secrets live, and :mod:`kitaru._zenml`, the door to ZenML): besides the paths,
``connection`` / ``token_cache`` say which server kitaru talks to and with which
credentials; ``store_access`` reaches the store's SQLite file and a server's REST
API; ``store_key`` keeps the embedded store's key file; ``store_dir`` checks the
directory before the store is opened; ``disk_space`` tells a full disk apart. It
imports nothing heavy; it is safe at ``import kitaru`` time.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from kitaru.errors import BackendError

ENV_CONFIG_PATH = "KITARU_CONFIG_PATH"
ENV_SERVER_URL = "KITARU_SERVER_URL"
ENV_API_KEY = "KITARU_API_KEY"
ENV_ALLOW_INSECURE = "KITARU_ALLOW_INSECURE"
ENV_MODEL_REGISTRY = "KITARU_MODEL_REGISTRY"


def default_config_dir() -> Path:
    """The per-user config directory used when ``KITARU_CONFIG_PATH`` is unset."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "kitaru"
    if os.name == "nt":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "kitaru"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kitaru"


def config_dir() -> Path:
    """kitaru's config directory (``KITARU_CONFIG_PATH`` or the per-user default)."""
    raw = os.environ.get(ENV_CONFIG_PATH, "").strip()
    return Path(raw).expanduser().resolve() if raw else default_config_dir()


@dataclass(frozen=True)
class Paths:
    """All files kitaru keeps under one config directory."""

    root: Path

    @property
    def zenml(self) -> Path:
        return self.root / "zenml"

    @property
    def local_store_db(self) -> Path:
        return self.zenml / "local_stores" / "default_zen_store" / "zenml.db"

    @property
    def key_file(self) -> Path:
        return self.root / "secrets.key"

    @property
    def key_check_file(self) -> Path:
        return self.root / "secrets.key.check"

    @property
    def secrets_lock(self) -> Path:
        return self.root / "secrets.lock"

    @property
    def store_lock(self) -> Path:
        return self.root / "store.lock"

    @property
    def models_file(self) -> Path:
        return self.root / "models.json"

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"


def paths() -> Paths:
    """The :class:`Paths` of the current config directory."""
    return Paths(config_dir())


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable only by the user, and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def private_temp_file(path: Path) -> tuple[int, Path]:
    """A new 0600 file beside ``path`` to be renamed over it: (open fd, its path).

    Its name is unpredictable and it is created with ``O_EXCL|O_NOFOLLOW``
    (``mkstemp``), so nothing planted in the folder (a symlink to another file)
    is ever written through.
    """
    import tempfile  # not at import time: ``import kitaru`` stays light

    # The pid in the name lets a later writer remove what a killed one left behind.
    prefix = f".{path.name}.{os.getpid()}."
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    return fd, Path(name)


def open_lock_file(path: Path) -> int:
    """Open (creating, 0600) a lock file, never through a symlink planted at ``path``."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)


def tighten_mode(path: Path) -> int | None:
    """Take group and other permissions off ``path``; its old mode if it had any, else None.

    Never through a symlink: ``path`` is opened with ``O_NOFOLLOW`` and changed
    with ``fchmod``, so a link planted at ``path`` is left alone (None). A
    missing path is None too.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if not mode & 0o077:
            return None
        os.fchmod(fd, mode & 0o700)
        return mode
    except OSError:
        return None
    finally:
        os.close(fd)


def dangling_link_message(path: Path, what: str) -> str | None:
    """One line for a symlink at ``path`` whose target is missing, else None."""
    if not path.is_symlink() or path.exists():
        return None
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return (
        f"The {what} {path} is a symbolic link to {target}, which does not exist. Restore "
        "the file it points to, or replace the link with the file itself; kitaru did not "
        "change anything."
    )


def write_private_file(path: Path, data: str, *, replace: bool = True) -> bool:
    """Atomically write ``data`` to ``path`` with mode 0600 from the first byte.

    The file appears whole or not at all. With ``replace=False`` an existing
    ``path`` is kept (the write is an exclusive create) and False is returned.
    """
    ensure_private_dir(path.parent)
    _remove_stale_temp_files(path)
    fd, tmp = private_temp_file(path)
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            # The error of a write through a descriptor names no file: name the one
            # being written (a full disk is then reported about it, not the store).
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        if not replace:
            try:
                os.link(tmp, path)  # atomic, and fails if another process got there first
            except FileExistsError:
                return False
            except OSError:
                # A file system without hard links: an exclusive create, written at once.
                return _create_exclusive(path, data)
            return True
        os.replace(tmp, path)
        return True
    finally:
        if tmp.exists():
            tmp.unlink()


def _create_exclusive(path: Path, data: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _remove_stale_temp_files(path: Path) -> None:
    """Remove temp files of :func:`write_private_file` left by killed processes."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 : -len(".tmp")].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def pid_alive(pid: int) -> bool:
    """True if a process with this ID exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Held(threading.local):
    """The file locks this thread holds, with their depth (locks are re-entrant)."""

    def __init__(self) -> None:
        self.depth: dict[Path, int] = {}


_held = _Held()
_path_locks: dict[Path, threading.Lock] = {}
_path_locks_guard = threading.Lock()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600) across processes and threads.

    Re-entrant within a thread. Raises :class:`BackendError` naming the file if
    the lock file cannot be created or opened.
    """
    import fcntl

    if _held.depth.get(path):
        _held.depth[path] += 1
        try:
            yield
        finally:
            _held.depth[path] -= 1
        return
    with _path_locks_guard:
        path_lock = _path_locks.setdefault(path, threading.Lock())
    with path_lock:
        try:
            ensure_private_dir(path.parent)
            fd = open_lock_file(path)
        except OSError as exc:
            raise BackendError(
                f"Cannot open the lock file {path}: {exc.strerror or type(exc).__name__}. "
                f"Check that {path.parent} is a writable directory owned by you.",
                operation="lock",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held.depth[path] = 1
            yield
        finally:
            _held.depth.pop(path, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# ------------------------------------------------------------ per-process caches


class _Clearable(Protocol):
    def clear(self) -> None: ...


class _CachedFunction(Protocol):
    def cache_clear(self) -> None: ...


_Cache = TypeVar("_Cache", bound=_Clearable | _CachedFunction)

# Every cache kitaru keeps for a process, registered by its module on import
# (tests/test_reset_caches.py finds any module-level cache left out).
_caches: list[_Clearable | _CachedFunction] = []


def per_process_cache(cache: _Cache) -> _Cache:
    """Register ``cache`` (a dict or set, or an ``lru_cache`` function) with :func:`reset_caches`.

    Wrap a module-level cache where it is made (``_seen: set[str] = per_process_cache(set())``)
    or decorate a cached function with it, so no cache can be left out of the reset.
    """
    _caches.append(cache)
    return cache


def registered_caches() -> tuple[_Clearable | _CachedFunction, ...]:
    """The caches :func:`reset_caches` empties (registered by modules imported so far)."""
    return tuple(_caches)


def reset_caches() -> None:
    """Empty every per-process cache of kitaru.

    Each cache is already keyed by what it was read from (config directory, server
    URL, the file's stat), so kitaru never needs this; a test that changes what a
    cache was filled from behind its back (a schema, an environment variable) calls
    this one function instead of poking each cache. State of a running flow (its
    scope, captured output, pending records) is not a cache and is left alone.
    Two caches are left out on purpose, because emptying one mid-process reopens
    the store's SQLite database: ZenML's client (``client._client``) and the
    once-per-process store directory check (``store_dir._checked``, whose
    ``tighten_store`` opens and closes the database files). Closing any descriptor
    of a file drops every POSIX lock the process holds on it, so SQLite's live
    connections would lose their locks and other processes could then corrupt the
    store (a concurrent-upsert test read "database disk image is malformed").
    """
    for cache in list(_caches):
        if hasattr(cache, "cache_clear"):
            cache.cache_clear()
        else:
            cache.clear()
