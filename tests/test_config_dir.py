"""The config directory: private modes (never set through a symlink), key links, moves and copies.

Every kitaru run here is a subprocess on its own KITARU_CONFIG_PATH.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from kitaru._config import Paths
from kitaru.errors import KitaruError


def cli(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config), **env})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> Paths:
    """A fresh store holding one secret, created by kitaru."""
    config = tmp_path / "kitaru"
    created = cli(config, "secrets", "set", "first", "--TOKEN=value-one")
    assert created.returncode == 0, created.stderr
    return Paths(config)


def test_a_store_kitaru_created_is_private_and_quiet(store: Paths) -> None:
    db = store.local_store_db
    assert mode(store.root) == 0o700 and mode(store.zenml) == 0o700
    assert mode(db) == 0o600 and mode(db.parent) == 0o700
    again = cli(store.root, "secrets", "list")
    assert again.returncode == 0 and "mode" not in again.stderr


def test_wide_folders_and_database_are_tightened_with_a_warning(store: Paths) -> None:
    db = store.local_store_db
    os.chmod(store.root, 0o777)
    os.chmod(store.zenml, 0o755)
    os.chmod(db.parent.parent, 0o755)
    os.chmod(db.parent, 0o755)
    os.chmod(db, 0o644)
    result = cli(store.root, "secrets", "list")
    assert result.returncode == 0, result.stderr
    assert f"{store.root} had mode 0o777" in result.stderr
    assert f"{db} had mode 0o644" in result.stderr
    assert mode(store.root) == 0o700 and mode(store.zenml) == 0o700
    assert mode(db.parent) == 0o700 and mode(db) == 0o600
    again = cli(store.root, "secrets", "list")
    assert "had mode" not in again.stderr


def test_chmod_never_follows_a_symlinked_key(store: Paths, tmp_path: Path) -> None:
    elsewhere = tmp_path / "keys" / "secrets.key"
    elsewhere.parent.mkdir()
    shutil.move(store.key_file, elsewhere)
    os.chmod(elsewhere, 0o644)
    store.key_file.symlink_to(elsewhere)
    result = cli(store.root, "secrets", "show", "first", "--show-values")
    assert result.returncode == 0, result.stderr
    assert "value-one" in result.stdout
    assert mode(elsewhere) == 0o644  # the link's target is not kitaru's to change


@pytest.mark.parametrize("missing_target", ["gone.key", "/nonexistent/dir/secrets.key"])
def test_dangling_symlink_at_the_key_is_one_line(
    store: Paths, tmp_path: Path, missing_target: str
) -> None:
    store.key_file.unlink()
    store.key_file.symlink_to(missing_target)
    for args in (("secrets", "list"), ("secrets", "set", "other", "--K=v")):
        result = cli(store.root, *args)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "symbolic link" in lines[0] and str(store.key_file) in lines[0]
        assert "Recursion" not in result.stderr
    assert store.key_file.is_symlink()


def test_fingerprint_key_is_checked_like_the_secret_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kitaru._store import fingerprint_key as fingerprint_keys

    root = tmp_path / "cfg"
    root.mkdir(mode=0o700)
    first = fingerprint_keys._local_key(root)
    path = root / "fingerprint.key"
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="kitaru"):
        assert fingerprint_keys._local_key(root) == first
    assert mode(path) == 0o600
    assert any(str(path) in r.getMessage() and "0o644" in r.getMessage() for r in caplog.records)

    path.unlink()
    path.symlink_to(tmp_path / "missing.key")
    with pytest.raises(KitaruError) as err:
        fingerprint_keys._local_key(root)
    assert "symbolic link" in str(err.value) and "\n" not in str(err.value)


def test_moved_config_directory_is_one_store(store: Paths, tmp_path: Path) -> None:
    moved = Paths(tmp_path / "moved-kitaru")
    shutil.move(store.root, moved.root)
    # The fast path reads the moved database directly ...
    added = cli(moved.root, "secrets", "set", "second", "--TOKEN=value-two")
    assert added.returncode == 0, added.stderr
    # ... and ZenML's client, which reads the path from its config.yaml, sees the same.
    through_zenml = cli(
        moved.root, "secrets", "show", "second", "--show-values", KITARU_DISABLE_FAST_STORE="1"
    )
    assert through_zenml.returncode == 0, through_zenml.stderr
    assert "value-two" in through_zenml.stdout
    config = (moved.zenml / "config.yaml").read_text()
    assert str(moved.local_store_db) in config and str(store.root) not in config
    assert not store.root.exists()


def test_copied_config_directory_with_both_databases_is_refused(
    store: Paths, tmp_path: Path
) -> None:
    copy = Paths(tmp_path / "copied-kitaru")
    shutil.copytree(store.root, copy.root, symlinks=True)
    for env in ({}, {"KITARU_DISABLE_FAST_STORE": "1"}):
        result = cli(copy.root, "secrets", "list", **env)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(copy.local_store_db) in lines[0] and str(store.local_store_db) in lines[0]
    assert cli(store.root, "secrets", "list").returncode == 0  # the original is untouched
