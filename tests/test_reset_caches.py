"""One function empties kitaru's per-process caches: ``kitaru._config.reset_caches``.

Tests that change what a cache was filled from behind its back call it instead
of poking each cache; each module registers its own cache where it is made
(``per_process_cache``), and a scan of the source finds module-level state that is
neither registered nor listed here as not a cache.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from kitaru._config import connection, registered_caches, reset_caches, write_private_file
from kitaru._store import secret_store


def test_reset_caches_empties_the_backend_choice_and_the_parsed_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_store.backend()  # the store is in place: what the choice is keyed by stays put
    chosen = secret_store.backend()
    assert secret_store.backend() is chosen  # cached
    reset_caches()
    assert secret_store.backend() is not chosen  # chosen again

    monkeypatch.setenv("KITARU_CONFIG_PATH", str(tmp_path / "cfg"))
    monkeypatch.delenv("KITARU_SERVER_URL", raising=False)
    login = {"url": "http://127.0.0.1:8405", "auth": "token", "token": "t"}
    write_private_file(tmp_path / "cfg" / "server.json", json.dumps(login))
    parses: list[Path] = []
    real = connection._parse_login_file

    def counted(f: Path) -> Any:
        parses.append(f)
        return real(f)

    monkeypatch.setattr(connection, "_parse_login_file", counted)
    assert connection.server_url() == connection.server_url() == login["url"]
    assert len(parses) == 1
    reset_caches()
    assert connection.server_url() == login["url"]
    assert len(parses) == 2


# ------------------------------------------------- no cache left out of the reset

PACKAGE = Path(__file__).resolve().parent.parent / "kitaru"
_MUTABLE_CALLS = {
    "dict",
    "set",
    "list",
    "OrderedDict",
    "defaultdict",
    "deque",
    "WeakKeyDictionary",
    "WeakValueDictionary",
    "WeakSet",
    "local",
}

# Module-level mutable state that is not a cache, with why reset_caches() leaves it.
NOT_CACHES = {
    "_config/__init__.py:_path_locks": "one lock per file path; a lock is not a cached value",
    "_config/__init__.py:_caches": "the registry of caches itself",
    "_zenml/client.py:_client": "ZenML's client: reopening it reopens the SQLite store "
    "(see reset_caches); reset_client() forgets it on login, logout or a new config",
    "_zenml/client.py:_client_root": "the key of _client, reset with it",
    "_zenml/client.py:_adopted": "the client an orchestrator's entrypoint set up; kept "
    "for the process's life",
    "_config/store_dir.py:_checked": "reopens the SQLite files when emptied (see reset_caches)",
    "_zenml/process_env.py:_running": "how many flows are running in this process",
    "_zenml/process_env.py:_saved": "the caller's environment, put back after the last flow",
    "_zenml/inline_calls.py:_calls": "checkpoint calls in flight",
    "_zenml/lean_steps.py:_runs": "the flows running here that write their own steps",
    "_zenml/reused_steps.py:_pending": "records still to be written for reused steps",
    "_zenml/flow_sources.py:_local_flows": "flows registered for the runs that use them",
    "_zenml/flow_sources.py:_root_from_env": "the source root set in ZenML, to undo it",
    "_zenml/step_code.py:_sources": "the function of each recent call, read by ZenML once",
    "_zenml/step_code.py:_installed": "ZenML patched once per process",
    "_zenml/step_code.py:_PACKAGE_DIRS": "where kitaru and zenml are installed",
    "_zenml/output_views.py:_installed": "ZenML patched once per process",
    "_zenml/tuning.py:_applied": "ZenML patched once per process",
    "_zenml/stored_paths.py:_installed": "ZenML patched once per process",
    "_run/handle.py:_INTERNAL_DIRS": "where kitaru and zenml are installed",
    "runtime/scope.py:_running": "the scopes of running flows",
    "runtime/capture.py:_active": "how many flows capture output",
    "runtime/capture.py:_saved": "the streams to put back after the last capture",
    "runtime/import_guard.py:_boundaries": "code objects of decorated functions",
    "runtime/import_guard.py:_origins": "which thread started which",
    "runtime/import_guard.py:_carried": "per-thread state of the import guard",
    "runtime/liveness.py:_host": "this host's identity, fixed for the process; "
    "runtime/ imports nothing of the config wing",
    "mcp/server.py:_executor": "the MCP server's worker pool",
}


def _is_constant(name: str) -> bool:
    return name.strip("_").isupper() or name.startswith("__")


def _module_state(path: Path) -> tuple[set[str], set[str]]:
    """(names of module-level mutable state, those registered with per_process_cache)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    state: set[str] = set()
    registered: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            value = node.value
            call = ast.unparse(value.func).rsplit(".", 1)[-1] if isinstance(value, ast.Call) else ""
            if call == "per_process_cache":
                registered.update(names)
            elif isinstance(value, ast.Dict | ast.Set | ast.List) or call in _MUTABLE_CALLS:
                state.update(n for n in names if not _is_constant(n))
        elif isinstance(node, ast.FunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if "per_process_cache" in decorators:
                registered.add(node.name)
            elif any(d.split("(")[0].endswith(("lru_cache", "cache")) for d in decorators):
                state.add(node.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            state.update(node.names)
    return state - registered, registered


def _scan() -> tuple[set[str], dict[str, set[str]]]:
    unregistered: set[str] = set()
    registered: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        state, caches = _module_state(path)
        unregistered.update(f"{rel}:{name}" for name in state)
        if caches:
            module = "kitaru." + rel.removesuffix(".py").replace("/", ".")
            registered[module] = caches
    return unregistered, registered


def test_the_scan_finds_an_unregistered_cache(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import functools\n"
        "_seen: dict[str, int] = {}\n"
        "_kept: set[str] = per_process_cache(set())\n"
        "LIMITS = {'a': 1}\n"
        "@functools.lru_cache\ndef _slow(x): return x\n"
        "@per_process_cache\n@functools.cache\ndef _fast(x): return x\n"
        "def f():\n    global _flag\n    _flag = True\n",
        encoding="utf-8",
    )
    assert _module_state(source) == ({"_seen", "_slow", "_flag"}, {"_kept", "_fast"})


def test_every_module_level_cache_is_registered_with_the_reset() -> None:
    unregistered, _ = _scan()
    assert unregistered - set(NOT_CACHES) == set(), (
        "module-level state neither registered with kitaru._config.per_process_cache "
        "nor listed in NOT_CACHES with the reason it is not a cache"
    )
    assert set(NOT_CACHES) - unregistered == set(), "NOT_CACHES names state that is gone"


def test_reset_caches_empties_every_registered_cache() -> None:
    from kitaru._zenml.client import import_zenml

    import_zenml()  # kitaru._zenml.pipelines imports zenml: not before kitaru's guard
    _, registered = _scan()
    objects = [
        getattr(importlib.import_module(module), name)
        for module, names in registered.items()
        for name in names
    ]
    assert {id(o) for o in objects} == {id(o) for o in registered_caches()}

    connection.is_loopback("http://localhost:8080")
    secret_store.backend()
    filled = [connection._host_is_loopback, secret_store._chosen]
    assert all(_size(cache) for cache in filled)
    reset_caches()
    assert {repr(cache): _size(cache) for cache in registered_caches()} == {
        repr(cache): 0 for cache in registered_caches()
    }


def _size(cache: Any) -> int:
    if hasattr(cache, "cache_info"):
        return int(cache.cache_info().currsize)
    return len(cache)
