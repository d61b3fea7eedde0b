"""A new store is copied into place whole; interrupting its creation never breaks it.

Every kitaru run here is a real subprocess on its own fresh KITARU_CONFIG_PATH;
interruptions are real SIGKILL / SIGINT sent to the command's process group, at
points found by watching the config directory.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli

from kitaru._config import Paths

KITARU = str(Path(sys.executable).parent / "kitaru")


def cli(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config), **env})


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def store_ids(p: Paths) -> dict[str, str]:
    conn = sqlite3.connect(p.local_store_db)
    try:
        return {
            t: conn.execute(f'SELECT id FROM "{t}"').fetchone()[0]
            for t in ("user", "project", "stack", "server_settings")
        }
    finally:
        conn.close()


def test_a_new_store_is_a_copy_with_its_own_ids_and_config(tmp_path: Path) -> None:
    a, b = Paths(tmp_path / "a"), Paths(tmp_path / "b")
    for p in (a, b):
        ok(cli(p.root, "secrets", "set", "first", "--TOKEN=t"))
    ids_a, ids_b = store_ids(a), store_ids(b)
    assert not set(ids_a.values()) & set(ids_b.values())
    config = (b.zenml / "config.yaml").read_text(encoding="utf-8")
    assert str(b.local_store_db) in config and str(a.root) not in config
    assert ids_b["stack"] in config.replace("-", "")
    # ZenML itself opens the copy and sees its default stack as the active one.
    stacks = ok(cli(b.root, "stack", "list", "-o", "json"))
    assert "default" in stacks
    assert "TOKEN" in ok(cli(b.root, "secrets", "show", "first"))
    assert not list(b.zenml.rglob(".*.new-*"))
    assert os.stat(b.zenml).st_mode & 0o077 == 0


def test_the_first_secrets_command_does_not_import_zenml(tmp_path: Path) -> None:
    ok(cli(tmp_path / "warm", "secrets", "list"))  # the template exists from now on
    code = (
        "import sys\nfrom kitaru.cli import cli\n"
        "try:\n    cli(['secrets', 'set', 'x', '--K=v'], standalone_mode=False)\n"
        "finally:\n    print('ZENML', 'zenml' in sys.modules)"
    )
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "new")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ZENML False")
    assert Paths(tmp_path / "new").local_store_db.is_file()


# ------------------------------------------------------------------ interruptions


def _wait_for(found: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    """Poll until ``found()`` or the command ended (then the point was passed)."""
    deadline = time.monotonic() + 120
    while not found() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def _interrupt(config: Path, point: Callable[[], bool], sig: int, **env: str) -> None:
    proc = subprocess.Popen(
        [KITARU, "secrets", "set", "first", "--TOKEN=first-value"],
        env={**os.environ, "KITARU_CONFIG_PATH": str(config), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # Ctrl-C and kill reach the whole command, as in a terminal
    )
    try:
        _wait_for(point, proc)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
    finally:
        proc.wait(timeout=120)
        if proc.returncode is None:  # pragma: no cover - only if the signal was lost
            os.killpg(proc.pid, signal.SIGKILL)


def _assert_store_works(config: Path) -> None:
    p = Paths(config)
    ok(cli(config, "secrets", "set", "second", "--TOKEN=second-value"))
    listed = ok(cli(config, "secrets", "list"))
    assert "second" in listed
    status = cli(config, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "DAMAGED" not in status.stdout
    assert p.key_file.read_text(encoding="utf-8").strip()
    leftovers = [f.name for f in p.root.rglob(".*") if f.name.endswith(".tmp") or ".new-" in f.name]
    assert leftovers == []
    ok(cli(config, "stack", "list"))  # ZenML opens it too


POINTS: dict[str, Callable[[Paths], bool]] = {
    "at once": lambda p: True,
    "key written": lambda p: p.key_file.exists(),
    "copy staged": lambda p: any(p.zenml.rglob(".zenml.db.new-*")),
    "store in place": lambda p: p.local_store_db.exists(),
}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("point", list(POINTS))
def test_an_interrupted_first_command_leaves_a_working_config_dir(
    tmp_path: Path, point: str, sig: int
) -> None:
    ok(cli(tmp_path / "warm", "secrets", "list"))  # the template exists
    config = tmp_path / "kitaru"
    _interrupt(config, lambda: POINTS[point](Paths(config)), sig)
    _assert_store_works(config)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_template_build_is_redone(tmp_path: Path, sig: int) -> None:
    cache = tmp_path / "cache"
    config = tmp_path / "kitaru"

    def building() -> bool:
        return any((cache / "store-template").glob(".build-*/config/zenml/local_stores/*/zenml.db"))

    _interrupt(config, building, sig, KITARU_CACHE_DIR=str(cache))
    os.environ["KITARU_CACHE_DIR"], saved = str(cache), os.environ["KITARU_CACHE_DIR"]
    try:
        _assert_store_works(config)
    finally:
        os.environ["KITARU_CACHE_DIR"] = saved
    assert not list((cache / "store-template").glob(".build-*"))


def test_a_half_made_store_holding_nothing_is_redone(tmp_path: Path) -> None:
    p = Paths(tmp_path / "kitaru")
    ok(cli(p.root, "secrets", "list"))
    # What an older kitaru left when killed while ZenML created the tables.
    p.local_store_db.unlink()
    conn = sqlite3.connect(p.local_store_db)
    conn.execute("CREATE TABLE user (id TEXT PRIMARY KEY)")
    conn.commit()
    conn.close()
    status = cli(p.root, "status")
    assert status.returncode == 1
    assert "DAMAGED" in status.stdout and str(p.local_store_db) in status.stdout
    _assert_store_works(p.root)


def test_a_half_made_store_holding_a_secret_is_reported_not_redone(tmp_path: Path) -> None:
    p = Paths(tmp_path / "kitaru")
    ok(cli(p.root, "secrets", "set", "keep", "--K=v"))
    conn = sqlite3.connect(p.local_store_db)
    conn.execute("DROP TABLE alembic_version")
    conn.commit()
    conn.close()
    before = p.local_store_db.read_bytes()
    result = cli(p.root, "secrets", "list")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(p.local_store_db) in result.stderr and "damaged" in result.stderr
    assert p.local_store_db.read_bytes() == before


# ------------------------------------------------------------------ item 1: a key without a store


@pytest.mark.parametrize("command", [("secrets", "list"), ("stack", "list")])
def test_an_empty_database_beside_a_key_is_refused(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    p = Paths(tmp_path / "kitaru")
    ok(cli(p.root, "secrets", "set", "first", "--TOKEN=t"))
    p.local_store_db.write_bytes(b"")
    result = cli(p.root, *command)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(p.local_store_db) in lines[0] and "empty" in lines[0]
    assert "No secrets" not in result.stdout
    assert p.local_store_db.stat().st_size == 0  # nothing was made over it
    status = cli(p.root, "status")
    assert status.returncode == 1 and "DAMAGED" in status.stdout


# ------------------------------------------------------------------ item 2: no lock to open


def test_opening_an_up_to_date_store_takes_no_lock(tmp_path: Path) -> None:
    p = Paths(tmp_path / "kitaru")
    ok(cli(p.root, "secrets", "set", "first", "--TOKEN=t"))
    fd = os.open(p.store_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a process creating or migrating the store would
        # Both the direct secrets path and ZenML's client open the store; with the
        # lock taken for every open they would wait here until the timeout.
        assert "first" in ok(cli(p.root, "secrets", "list"))
        assert "default" in ok(cli(p.root, "stack", "list"))
    finally:
        os.close(fd)


# ------------------------------------------------------------------ item 4: the key file


def test_an_empty_key_file_of_a_store_without_secrets_is_replaced(tmp_path: Path) -> None:
    p = Paths(tmp_path / "kitaru")
    ok(cli(p.root, "secrets", "list"))
    p.key_file.write_text("", encoding="utf-8")  # a kill between creating and writing it
    stale = p.root / f".secrets.key.check.{_dead_pid()}.tmp"
    stale.write_text("x", encoding="utf-8")
    result = cli(p.root, "secrets", "set", "first", "--TOKEN=t")
    assert result.returncode == 0, result.stderr
    assert p.key_file.read_text(encoding="utf-8").strip()
    assert not stale.exists()
    assert "first" in ok(cli(p.root, "secrets", "list"))


def test_an_empty_key_file_of_a_store_with_secrets_is_refused(tmp_path: Path) -> None:
    p = Paths(tmp_path / "kitaru")
    ok(cli(p.root, "secrets", "set", "first", "--TOKEN=t"))
    p.key_file.write_text("", encoding="utf-8")
    result = cli(p.root, "secrets", "list")
    assert result.returncode == 1
    assert str(p.key_file) in result.stderr and "empty" in result.stderr
    assert p.key_file.read_text(encoding="utf-8") == ""


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)
