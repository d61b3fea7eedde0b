"""Lean settings for ZenML's local store, measured in ``benchmarks/``.

Applied once per process when kitaru opens its store:

- SQLite in WAL mode with ``synchronous=NORMAL``: a commit is durable against a
  crash of the process (what checkpoints protect against) without an fsync per
  commit; only an OS crash or power loss can drop the last commits. Each ZenML
  step makes about seven commits, so this is the largest per-checkpoint saving.
- ZenML records ``pip freeze`` (two subprocesses, ~0.25 s) on every run; the
  installed packages of a running process do not change, so it is read once.
- ZenML hashes each step's source code on every call (``inspect.getsource``);
  kitaru's step entry never changes within a process, so the hash is memoised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

_applied = False


def apply(client: Any) -> None:
    """Apply the settings above to ZenML in this process (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    _tune_sqlite(client)
    _memoise_package_list()
    _memoise_source_hash()


def _tune_sqlite(client: Any) -> None:
    store = client.zen_store
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name != "sqlite":
        return
    from sqlalchemy import event

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
        finally:
            cur.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # reconnect so every pooled connection gets the pragmas


def _memoise_package_list() -> None:
    from zenml.environment import Environment

    original = Environment.get_python_packages
    cache: list[list[str]] = []

    def get_python_packages() -> list[str]:
        if not cache:
            cache.append(original())
        return list(cache[0])

    Environment.get_python_packages = staticmethod(get_python_packages)  # type: ignore[method-assign]


def _memoise_source_hash() -> None:
    from zenml.utils import source_code_utils

    original = source_code_utils.get_hashed_source_code

    @functools.lru_cache(maxsize=256)
    def hashed(obj: Any) -> str:
        return str(original(obj))

    def get_hashed_source_code(obj: Any) -> str:
        try:
            return hashed(obj)
        except TypeError:  # unhashable object: no memo
            return str(original(obj))

    source_code_utils.get_hashed_source_code = get_hashed_source_code  # type: ignore[assignment]


def atomic_config_writes() -> None:
    """Make ZenML write its ``config.yaml`` atomically, and only when it changes.

    ZenML rewrites that file (truncate, then write) every time a process opens the
    store. Processes that open an existing store at once, without a lock, would
    otherwise read each other's half-written file.
    """
    import os

    import yaml
    from zenml.config.global_config import GlobalConfiguration
    from zenml.constants import ENV_ZENML_SERVER

    from kitaru._config import write_private_file

    if getattr(GlobalConfiguration._write_config, "_kitaru_atomic", False):
        return

    def _write_config(self: Any) -> None:
        if ENV_ZENML_SERVER in os.environ:
            return  # as ZenML: a server never writes its client configuration
        path = Path(self._config_file)
        text = yaml.dump(self.model_dump(mode="json", exclude_none=True), sort_keys=True)
        try:
            if path.read_text(encoding="utf-8") == text:
                return
        except OSError:
            pass
        write_private_file(path, text)

    _write_config._kitaru_atomic = True  # type: ignore[attr-defined]
    GlobalConfiguration._write_config = _write_config  # type: ignore[method-assign]


def zenml_paths_stay_kitarus(current: Callable[[], dict[str, str] | None]) -> None:
    """Let ZenML find kitaru's directories after a flow put the caller's variables back.

    ZenML reads ``ZENML_CONFIG_PATH`` and ``ZENML_LOCAL_STORES_PATH`` every time it
    needs a path under its config directory (the local artifact store's, for one).
    With kitaru's client open, those paths are kitaru's, as they were when the client
    was opened, whether the variables are absent or are the caller's own (pointing
    at another ZenML): ``current()`` gives kitaru's values (None when no kitaru
    client is open).
    """
    from zenml.config.global_config import GlobalConfiguration
    from zenml.utils import io_utils

    if getattr(io_utils.get_global_config_directory, "_kitaru", False):
        return
    original = io_utils.get_global_config_directory
    original_stores = GlobalConfiguration.local_stores_path

    def get_global_config_directory() -> str:
        found = current()
        return found["ZENML_CONFIG_PATH"] if found else str(original())

    def local_stores_path(self: Any) -> str:
        found = current()
        if not found:
            return str(original_stores.fget(self))  # type: ignore[attr-defined]
        default = str(Path(found["ZENML_CONFIG_PATH"]) / "local_stores")
        return found.get("ZENML_LOCAL_STORES_PATH", default)

    get_global_config_directory._kitaru = True  # type: ignore[attr-defined]
    io_utils.get_global_config_directory = get_global_config_directory
    GlobalConfiguration.local_stores_path = property(local_stores_path)  # type: ignore[assignment,method-assign]
