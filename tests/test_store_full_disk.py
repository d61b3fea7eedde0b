"""A full disk: one line naming the file and the cause; reads still work.

The config directory lives on a real, small tmpfs that the test fills up (needs
root to mount, as on the project's machines and CI; skipped otherwise).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from kitaru._config import Paths


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config)})


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    """Fill ``disk`` to the last page (SQLite frees its WAL files between commands)."""
    n = len(list(disk.glob("filler*")))
    for chunk in (65536, 4096):
        with open(disk / f"filler{n}-{chunk}", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * chunk)
            except OSError:
                pass
    st = os.statvfs(disk)
    assert st.f_bavail * st.f_frsize < 4096


@pytest.mark.parametrize("wal_checkpointed", [True, False], ids=["idle", "after-zenml"])
def test_a_full_disk_lets_reads_work_and_names_the_file_on_writes(
    small_disk: Path, wal_checkpointed: bool
) -> None:
    p = Paths(small_disk / "kitaru")
    assert cli(p.root, "secrets", "set", "api", "--TOKEN=value-one").returncode == 0
    if not wal_checkpointed:
        assert cli(p.root, "stack", "list").returncode == 0  # ZenML leaves its WAL files
    fill(small_disk)

    listed = cli(p.root, "secrets", "list")
    assert listed.returncode == 0, listed.stderr
    assert "api" in listed.stdout
    shown = cli(p.root, "secrets", "show", "api", "--show-values")
    assert shown.returncode == 0 and "value-one" in shown.stdout

    for args in (
        ("secrets", "set", "api", "--TOKEN=value-two"),
        ("secrets", "set", "new", "--K=v"),
    ):
        result = cli(p.root, *args)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(p.local_store_db) in lines[0] and "disk" in lines[0] and "full" in lines[0]
        assert "Unexpected" not in lines[0]

    # Commands that need ZenML's client say the same in one line.
    stacks = cli(p.root, "stack", "list")
    if stacks.returncode != 0:
        assert len(stacks.stderr.strip().splitlines()) == 1, stacks.stderr
        assert "full" in stacks.stderr and "Unexpected" not in stacks.stderr

    for filler in small_disk.glob("filler*"):
        filler.unlink()
    again = cli(p.root, "secrets", "show", "api", "--show-values")
    assert "value-one" in again.stdout  # the refused write changed nothing
    assert cli(p.root, "secrets", "set", "api", "--TOKEN=value-two").returncode == 0


FLOWS = """
from kitaru import checkpoint, flow


@checkpoint
def add(a: int, b: int) -> int:
    return a + b


@flow
def my_flow(x: int) -> int:
    return add(x, 1)


if __name__ == "__main__":
    print("result", my_flow(1))
"""


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Unexpected" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("zenml_opened", [False, True], ids=["idle", "after-zenml"])
def test_every_command_on_a_full_disk_reads_or_says_which_file_in_one_line(
    small_disk: Path, tmp_path: Path, zenml_opened: bool
) -> None:
    p = Paths(small_disk / "kitaru")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "flows.py").write_text(FLOWS)
    env = {**os.environ, "KITARU_CONFIG_PATH": str(p.root), "KITARU_PROGRESS": "0"}
    env.pop("KITARU_DEBUG", None)

    def script() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "flows.py"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert cli(p.root, "secrets", "set", "api", "--TOKEN=value-one").returncode == 0
    assert cli(p.root, "model", "register", "fast", "--model", "openai/gpt-4o-mini").returncode == 0
    ran = script()
    assert ran.returncode == 0 and "result 2" in ran.stdout, ran.stderr
    runs = json.loads(cli(p.root, "executions", "list", "-o", "json").stdout)
    execution_id = runs[0]["id"]
    shm = p.local_store_db.with_name(p.local_store_db.name + "-shm")
    if zenml_opened:
        # Loading outputs opens ZenML's client, which leaves the WAL's index file.
        assert cli(p.root, "executions", "show", execution_id).returncode == 0
        assert shm.exists()
    else:
        # As after a reboot: the last connection to close removes the WAL files, and a
        # reader on the full disk then cannot create them.
        conn = sqlite3.connect(p.local_store_db)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.close()
        assert not shm.exists()

    reads = {
        ("executions", "list"): execution_id,
        ("executions", "show", execution_id): "completed",
        ("stack", "list"): "default",
        ("stack", "show", "default"): "default",
        ("secrets", "list"): "api",
        ("model", "list"): "fast",
    }
    for args, expected in reads.items():
        fill(small_disk)
        result = cli(p.root, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert expected in result.stdout, (args, result.stdout)

    db, models = str(p.local_store_db), str(p.root / "models.json")
    writes = {
        ("secrets", "set", "other", "--K=v"): db,
        ("stack", "create", "more", "--orchestrator", "local"): db,
        ("model", "register", "slow", "--model", "openai/gpt-4o"): models,
    }
    for args, path in writes.items():
        fill(small_disk)
        line = one_error_line(cli(p.root, *args))
        assert path in line and "disk" in line and "full" in line, (args, line)

    fill(small_disk)
    line = one_error_line(script())
    assert line.startswith("kitaru.errors.BackendError: Cannot ") and db in line, line
    assert "full" in line

    for filler in small_disk.glob("filler*"):
        filler.unlink()
    assert "more" not in cli(p.root, "stack", "list").stdout  # nothing half-written
    assert "slow" not in cli(p.root, "model", "list").stdout
    assert [r["id"] for r in json.loads(cli(p.root, "executions", "list", "-o", "json").stdout)][
        -1
    ] == execution_id
