"""A full disk: one line naming the file and the cause; secrets can still be read.

The config directory lives on a real, small tmpfs that the test fills up (needs
root to mount, as on the project's machines and CI; skipped otherwise).
"""

from __future__ import annotations

import os
import subprocess
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
    with open(disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    st = os.statvfs(disk)
    assert st.f_bavail * st.f_frsize < 65536


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

    (small_disk / "filler").unlink()
    again = cli(p.root, "secrets", "show", "api", "--show-values")
    assert "value-one" in again.stdout  # the refused write changed nothing
    assert cli(p.root, "secrets", "set", "api", "--TOKEN=value-two").returncode == 0
