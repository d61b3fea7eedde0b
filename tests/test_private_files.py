"""Files and folders kitaru creates are its own: private, unguessable, never through a symlink."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from kitaru._config import file_lock, write_private_file
from kitaru.errors import BackendError


def test_run_folder_is_private_and_never_a_precreated_shared_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitaru._zenml.subprocess_orchestrator import make_run_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # Another user got there first: a world-writable folder at the old fixed path,
    # holding a module the flow process would import from its working directory.
    planted = tmp_path / "kitaru-subprocess-runs"
    planted.mkdir()
    planted.chmod(0o777)
    (planted / "json.py").write_text("raise SystemExit('planted')\n")
    before = sorted(p.name for p in planted.iterdir())

    first, second = make_run_dir(None, "run-1"), make_run_dir(None, "run-1")
    for run_dir in (first, second):
        assert planted not in run_dir.parents and run_dir != planted
        assert run_dir.parent == tmp_path
        info = run_dir.stat()
        assert info.st_uid == os.getuid()
        assert stat.S_IMODE(info.st_mode) == 0o700
    assert first != second
    assert sorted(p.name for p in planted.iterdir()) == before

    chosen = tmp_path / "my-workdir"
    inside = make_run_dir(str(chosen), "run-2")
    assert inside.parent == chosen and stat.S_IMODE(inside.stat().st_mode) == 0o700


def test_atomic_write_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "config" / "server.json"
    target.parent.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    # The temp name kitaru used to write through: predictable from the pid.
    (target.parent / f".{target.name}.{os.getpid()}.tmp").symlink_to(victim)

    write_private_file(target, '{"url": "x"}\n')

    assert victim.read_text() == "untouched\n"
    assert target.read_text() == '{"url": "x"}\n'
    assert not target.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    leftovers = [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [f".{target.name}.{os.getpid()}.tmp"]  # only the planted link


def test_lock_file_never_opened_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    lock = tmp_path / "secrets.lock"
    lock.symlink_to(victim)
    with pytest.raises(BackendError, match=r"secrets\.lock"), file_lock(lock):
        pass
    assert victim.read_text() == "untouched\n"


def test_fingerprint_key_temp_file_is_not_predictable(tmp_path: Path) -> None:
    from kitaru._store import fingerprint_key as fingerprint_keys

    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    root = tmp_path / "cfg"
    root.mkdir()
    import threading

    planted = root / f".fingerprint.key.{os.getpid()}.{threading.get_ident()}.tmp"
    planted.symlink_to(victim)
    key = fingerprint_keys._local_key(root)
    assert len(key) >= 16
    assert victim.read_text() == "untouched\n"
    assert stat.S_IMODE((root / "fingerprint.key").stat().st_mode) == 0o600
