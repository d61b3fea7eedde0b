"""First use from several processes, damaged key or store files, and name rules.

Every kitaru run here is a subprocess on its own fresh KITARU_CONFIG_PATH, so
the session's store is never touched.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import pytest
from conftest import run_cli

import kitaru
from kitaru._config import Paths
from kitaru._config.store_key import fingerprint
from kitaru.errors import InvalidSecretError, SecretNotFoundError


def cli(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config), **env})


def one_error_line(result: subprocess.CompletedProcess[str], must_name: Path) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Unexpected" not in lines[0] and "Traceback" not in result.stderr
    assert str(must_name) in lines[0]
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> Paths:
    """A fresh store holding one secret."""
    config = tmp_path / "kitaru"
    created = cli(config, "secrets", "set", "first", "--TOKEN=value-one")
    assert created.returncode == 0, created.stderr
    return Paths(config)


# ------------------------------------------------------------------ item 9: first use

FIRST_USE = """
import sys
kind = sys.argv[1]
if kind == "sdk":
    import kitaru
    kitaru.set_secret("sdk-made", {"K": "v"})
    print(sorted(s.name for s in kitaru.list_secrets()))
else:
    from kitaru import flow, checkpoint

    @checkpoint
    def one() -> int:
        return 1

    @flow
    def tiny() -> int:
        return one() + 1

    assert tiny.run().wait() == 2
    print("flow ok")
"""


@pytest.mark.parametrize("round_", range(5))
def test_four_processes_on_a_fresh_directory_all_succeed(tmp_path: Path, round_: int) -> None:
    config = tmp_path / f"fresh-{round_}"
    env = dict(os.environ, KITARU_CONFIG_PATH=str(config))
    exe = str(Path(sys.executable).parent / "kitaru")
    script = tmp_path / "first_use.py"
    script.write_text(textwrap.dedent(FIRST_USE))
    cmds = [
        [exe, "secrets", "set", "cli-a", "--K=v"],
        [exe, "secrets", "set", "cli-b", "--K=v"],
        [sys.executable, str(script), "sdk"],
        [sys.executable, str(script), "flow"],
    ]
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in cmds
    ]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    for proc, out, err in results:
        assert proc.returncode == 0, f"{proc.args}\nstdout:\n{out}\nstderr:\n{err}"
    names = {
        s
        for s in cli(config, "secrets", "list").stdout.split()
        if s in {"cli-a", "cli-b", "sdk-made"}
    }
    assert names == {"cli-a", "cli-b", "sdk-made"}


# ------------------------------------------------------------------ item 12: damaged files


def test_binary_key_file_is_one_line_naming_it(store: Paths) -> None:
    store.key_file.write_bytes(os.urandom(64) + b"\xff\xfe")
    line = one_error_line(cli(store.root, "secrets", "list"), store.key_file)
    assert "binary" in line and "backup" in line


def test_key_path_that_is_a_directory_is_one_line_naming_it(store: Paths) -> None:
    key = store.key_file.read_bytes()
    store.key_file.unlink()
    store.key_file.mkdir()
    line = one_error_line(cli(store.root, "secrets", "show", "first"), store.key_file)
    assert "directory" in line
    store.key_file.rmdir()
    store.key_file.write_bytes(key)
    os.chmod(store.key_file, 0o600)
    assert cli(store.root, "secrets", "show", "first").returncode == 0


def test_lock_file_that_cannot_be_opened_is_one_line_naming_it(store: Paths) -> None:
    store.secrets_lock.unlink(missing_ok=True)
    store.secrets_lock.mkdir()  # as root, a directory is what no one can open for writing
    line = one_error_line(cli(store.root, "secrets", "set", "second", "--K=v"), store.secrets_lock)
    assert "lock file" in line
    store.secrets_lock.rmdir()
    assert "second" not in cli(store.root, "secrets", "list").stdout


def _immutable(paths: list[Path], on: bool) -> None:
    """``chattr +i``: not even root may change these (root ignores file modes)."""
    for path in paths:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


def test_read_only_store_is_one_line_naming_the_database(store: Paths) -> None:
    db = store.local_store_db
    frozen = [store.root, db.parent, *db.parent.glob("zenml.db*")]
    _immutable(frozen, True)
    try:
        line = one_error_line(cli(store.root, "secrets", "set", "second", "--K=v"), db)
        assert "writable" in line
        listed = cli(store.root, "secrets", "list")  # reading still works
        assert listed.returncode == 0 and "first" in listed.stdout
    finally:
        _immutable(frozen, False)
    assert "second" not in cli(store.root, "secrets", "list").stdout


@pytest.mark.parametrize("fast", ["direct", "zenml"])
def test_truncated_database_is_one_line_naming_it(store: Paths, fast: str) -> None:
    db = store.local_store_db
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    data = db.read_bytes()
    db.write_bytes(data[:100] + os.urandom(4096))  # header cut, pages garbage
    env = {"KITARU_DISABLE_FAST_STORE": "1"} if fast == "zenml" else {}
    line = one_error_line(cli(store.root, "secrets", "list", **env), db)
    assert "damaged" in line


def test_corrupted_key_check_beside_the_right_key_is_rebuilt(store: Paths) -> None:
    key = store.key_file.read_text().strip()
    store.key_check_file.write_bytes(b"\x00garbage\xff")
    shown = cli(store.root, "secrets", "show", "first", "--show-values")
    assert shown.returncode == 0, shown.stderr
    assert "TOKEN: value-one" in shown.stdout
    assert "rebuilt" in shown.stderr and str(store.key_check_file) in shown.stderr
    assert store.key_check_file.read_text().strip() == fingerprint(key)
    # A well-formed but stale fingerprint beside the right key: rebuilt too.
    store.key_check_file.write_text(fingerprint("some other key") + "\n")
    assert cli(store.root, "secrets", "list").returncode == 0
    assert store.key_check_file.read_text().strip() == fingerprint(key)


def test_key_file_with_wide_permissions_is_fixed_with_a_warning(store: Paths) -> None:
    os.chmod(store.key_file, 0o644)
    result = cli(store.root, "secrets", "list")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(store.key_file.stat().st_mode) == 0o600
    assert "may have been exposed" in result.stderr and str(store.key_file) in result.stderr
    again = cli(store.root, "secrets", "list")
    assert "exposed" not in again.stderr  # warned once, when it was fixed


# ------------------------------------------------------------------ item 13: names, private=


def test_two_spellings_of_a_name_are_one_secret(unique: str) -> None:
    nfc = unicodedata.normalize("NFC", f"café-{unique}")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    created = kitaru.create_secret(nfd, {"A": "1"})
    assert created.name == nfc
    result = kitaru.set_secret(nfc, {"B": "2"})
    assert result.action == "updated" and result.secret.id == created.id
    assert kitaru.get_secret(nfd).values == {"A": "1", "B": "2"}
    assert [s.id for s in kitaru.list_secrets() if unicodedata.normalize("NFC", s.name) == nfc] == [
        created.id
    ]
    assert kitaru.delete_secret(nfd).id == created.id


@pytest.mark.parametrize("private", ["false", "true", 0, 1, None])
def test_private_must_be_a_bool(unique: str, private: object) -> None:
    name = f"notbool-{unique}"
    for call in (kitaru.create_secret, kitaru.set_secret):
        with pytest.raises(InvalidSecretError) as info:
            call(name, {"K": "v"}, private=private)  # type: ignore[operator]
        assert info.value.field == "private"
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)


def test_status_names_the_backend_in_use(store: Paths) -> None:
    import json

    direct = json.loads(cli(store.root, "status", "--json").stdout)
    assert direct["backend"] == "direct-sqlite"
    fallback = json.loads(cli(store.root, "status", "--json", KITARU_DISABLE_FAST_STORE="1").stdout)
    assert fallback["backend"] == "zenml-embedded"
    assert "Secrets backend:    direct" in cli(store.root, "status").stdout
