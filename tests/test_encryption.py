"""Secrets are encrypted at rest in kitaru's embedded store, with the key kept safe.

Every kitaru run here is a subprocess with its own KITARU_CONFIG_PATH (one store
per module), so the in-process client of the other tests is never disturbed. The
tests that damage the key restore it in ``finally``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, run_cli

from kitaru._config import Paths
from kitaru._config.store_key import fingerprint

# ------------------------------------------------------------------ helpers

_SDK_PRELUDE = """
import json, sys
import kitaru
from kitaru.errors import KitaruError

def attempt(fn):
    try:
        return {"ok": True, "result": fn()}
    except Exception as exc:
        return {
            "ok": False,
            "type": type(exc).__name__,
            "kitaru": isinstance(exc, KitaruError),
            "key_file": getattr(exc, "key_file", None),
            "message": str(exc),
        }
"""


def run_py(config: Path, code: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` (after a small prelude) in a fresh interpreter on ``config``.

    The code prints one JSON document on its last stdout line; it is returned.
    """
    full_env = dict(os.environ, KITARU_CONFIG_PATH=str(config))
    full_env.update(env or {})
    proc = subprocess.run(
        [PYTHON, "-c", _SDK_PRELUDE + code, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(config: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config)}, **kw)


def b64_forms(text: str) -> list[bytes]:
    """Substrings that any base64 (std or urlsafe) encoding containing ``text`` holds."""
    raw = text.encode("utf-8")
    forms = []
    for shift in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = enc(b"\0" * shift + raw)
            forms.append(encoded[4:-4])  # drop chars that depend on the neighbours
    return forms


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def decrypt(key: str, blob: Any) -> dict[str, str]:
    from sqlalchemy_utils.types.encrypted.encrypted_type import AesGcmEngine

    engine = AesGcmEngine()
    engine._update_key(key)
    data = engine.decrypt(blob.decode() if isinstance(blob, bytes) else blob)
    return dict(json.loads(data))


def secret_rows(db: Path) -> dict[str, Any]:
    """name -> raw ``values`` column of every secret row."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(con.execute('SELECT name, "values" FROM secret').fetchall())
    finally:
        con.close()


def looks_like_base64_json(blob: Any) -> bool:
    try:
        decoded = base64.b64decode(blob, validate=True)
        json.loads(decoded)
    except (ValueError, TypeError):
        return False
    return True


def assert_key_error_line(proc: subprocess.CompletedProcess[str], key_file: Path) -> str:
    """A one-line ``Error:`` that names the key file and says how to recover."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("Error: ") and "Traceback" not in proc.stderr
    assert str(key_file) in line
    assert "Restore" in line and "backup" in line
    return line


# ------------------------------------------------------------------ the store


@dataclass
class Store:
    config: Path
    values: dict[str, dict[str, str]]  # secret name -> values
    ids: dict[str, str]
    key: str = field(repr=False)
    paths: Paths = field(init=False)

    def __post_init__(self) -> None:
        self.paths = Paths(self.config)

    @property
    def canaries(self) -> list[str]:
        return [v for vals in self.values.values() for v in vals.values()]


_CREATE = """
pub, priv, c1, c2, c3, c4 = sys.argv[1:7]
kitaru.create_secret(pub, {"TOKEN": c1, "OTHER": c2})
kitaru.create_secret(priv, {"TOKEN": c3}, private=True)
kitaru.set_secret(pub, {"ADDED": c4})
print(json.dumps({s.name: s.id for s in kitaru.list_secrets()}))
"""

_READ_ALL = """
print(json.dumps({s.name: kitaru.get_secret(s.id).values for s in kitaru.list_secrets()}))
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    config = tmp_path_factory.mktemp("enc") / "kitaru-config"
    c = [f"canary-{uuid.uuid4().hex}" for _ in range(4)]
    pub, priv = "enc-public", "enc-private"
    ids = run_py(config, _CREATE, pub, priv, *c)
    key = (config / "secrets.key").read_text(encoding="utf-8").strip()
    values = {pub: {"TOKEN": c[0], "OTHER": c[1], "ADDED": c[3]}, priv: {"TOKEN": c[2]}}
    return Store(config=config, values=values, ids=ids, key=key)


@pytest.fixture
def restore_key(store: Store) -> Iterator[None]:
    """Put the original key and fingerprint back, whatever the test did to them."""
    key_bytes = store.paths.key_file.read_bytes()
    check_bytes = store.paths.key_check_file.read_bytes()
    yield
    for path, data in (
        (store.paths.key_file, key_bytes),
        (store.paths.key_check_file, check_bytes),
    ):
        path.write_bytes(data)
        os.chmod(path, 0o600)


def assert_readable_and_unchanged(store: Store, *, via_kitaru: bool = True) -> None:
    """The original key reads every secret, and nothing was added or removed."""
    if via_kitaru:
        assert run_py(store.config, _READ_ALL) == store.values
    rows = secret_rows(store.paths.local_store_db)
    assert set(rows) == set(store.values)
    for name, blob in rows.items():
        assert decrypt(store.key, blob) == store.values[name]


# ------------------------------------------------------------------ at rest


def test_no_value_on_disk_in_any_form(store: Store) -> None:
    files = [f for f in files_under(store.config) if f != store.paths.key_file]
    db = store.paths.local_store_db
    assert db in files  # the scan below really covers the database
    assert len(files) > 3
    needles = {c: [c.encode("utf-8"), *b64_forms(c)] for c in store.canaries}
    for f in files:
        data = f.read_bytes()
        for canary, forms in needles.items():
            for form in forms:
                assert form not in data, f"{f} holds {canary} (as {form[:12]!r}...)"


def test_db_rows_are_ciphertext_under_the_kitaru_key(store: Store) -> None:
    rows = secret_rows(store.paths.local_store_db)
    assert set(rows) == set(store.values)
    for name, blob in rows.items():
        assert blob and not looks_like_base64_json(blob)
        assert decrypt(store.key, blob) == store.values[name]
        other = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        with pytest.raises(Exception):  # noqa: B017 - any failure to decrypt will do
            decrypt(other, blob)


def test_key_file_is_private_and_nowhere_else(store: Store) -> None:
    p = store.paths
    for f in (p.key_file, p.key_check_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert len(store.key) >= 32
    assert stat.S_IMODE(p.root.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(p.zenml.stat().st_mode) & 0o077 == 0
    assert fingerprint(store.key) in p.key_check_file.read_text()
    zenml_config = (p.zenml / "config.yaml").read_text(encoding="utf-8")
    assert "KitaruSqlSecretsStore" in zenml_config
    assert "encryption_key" not in zenml_config
    for f in files_under(p.root):
        if f != p.key_file:
            assert store.key.encode() not in f.read_bytes(), f


def test_status_reports_encryption_on(store: Store) -> None:
    proc = cli(store.config, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["store"] == "local"
    assert data["encryption_at_rest"] is True
    assert data["encryption"].startswith("on")
    assert data["key_file"] == str(store.paths.key_file)
    assert store.key not in proc.stdout


def test_zenml_env_of_the_user_neither_leaks_nor_redirects(store: Store) -> None:
    """A user's own ZENML_STORE_* / ZENML_SECRETS_STORE_* settings stay out of kitaru."""
    user_key, api_key, value = (f"canary-{uuid.uuid4().hex}" for _ in range(3))
    env = {
        "ZENML_SECRETS_STORE_ENCRYPTION_KEY": user_key,
        "ZENML_STORE_URL": "http://127.0.0.1:9",
        "ZENML_STORE_API_KEY": api_key,
    }
    code = """
name, value = sys.argv[1:3]
kitaru.create_secret(name, {"TOKEN": value})
got = kitaru.get_secret(name).values
kitaru.delete_secret(name)
print(json.dumps(got))
"""
    assert run_py(store.config, code, "enc-env", value, env=env) == {"TOKEN": value}
    for f in files_under(store.config):
        data = f.read_bytes()
        for c in (user_key, api_key, value):
            assert c.encode() not in data, f
    assert_readable_and_unchanged(store, via_kitaru=False)


def test_raw_zenml_on_kitaru_dir_writes_ciphertext_only(store: Store, tmp_path: Path) -> None:
    """A plain ``zenml`` client pointed at kitaru's ZenML dir uses kitaru's key.

    It must neither fall back to base64 rows nor create a second key elsewhere
    (for example in the default per-user kitaru directory).
    """
    home = tmp_path / "home"
    home.mkdir()
    value = f"canary-{uuid.uuid4().hex}"
    script = tmp_path / "raw_zenml.py"
    script.write_text(
        "import json, sys\n"
        "from zenml.client import Client\n"
        "c = Client()\n"
        "c.create_secret('enc-raw', {'RAW': sys.argv[1]})\n"
        "names = sorted(s.name for s in c.list_secrets(hydrate=False).items)\n"
        "old = c.get_secret('enc-public', allow_partial_name_match=False).secret_values\n"
        "import sqlite3\n"
        "con = sqlite3.connect(sys.argv[2])\n"
        "sql = 'SELECT \"values\" FROM secret WHERE name = ?'\n"
        "row = con.execute(sql, ('enc-raw',)).fetchone()\n"
        "con.close()\n"
        "c.delete_secret('enc-raw')\n"
        "blob = row[0].decode() if isinstance(row[0], bytes) else row[0]\n"
        "print(json.dumps({'names': names, 'old': old, 'blob': blob}))\n",
        encoding="utf-8",
    )
    # Only what a user's shell would have: none of kitaru's or this session's ZenML settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITARU_", "XDG_", "ZENML_"))}
    env.update(HOME=str(home), ZENML_CONFIG_PATH=str(store.paths.zenml))
    env["ZENML_ANALYTICS_OPT_IN"] = "false"
    proc = subprocess.run(
        [PYTHON, str(script), value, str(store.paths.local_store_db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["names"] == sorted([*store.values, "enc-raw"])
    assert out["old"] == store.values["enc-public"]
    assert files_under(home) == []  # no stray key in a default config dir
    assert not looks_like_base64_json(out["blob"])
    assert decrypt(store.key, out["blob"]) == {"RAW": value}
    zenml_config = (store.paths.zenml / "config.yaml").read_text(encoding="utf-8")
    assert "encryption_key" not in zenml_config and store.key not in zenml_config
    assert_readable_and_unchanged(store, via_kitaru=False)


# ------------------------------------------------------------------ wrong / missing key

_TRY_EVERYTHING = """
name, value = sys.argv[1:3]
print(json.dumps({
    "list": attempt(lambda: len(kitaru.list_secrets())),
    "get": attempt(lambda: sorted(kitaru.get_secret(name).values)),
    "create": attempt(lambda: kitaru.create_secret("enc-new", {"K": value}).name),
    "set_new": attempt(lambda: kitaru.set_secret("enc-new2", {"K": value}).action),
    "set_existing": attempt(lambda: kitaru.set_secret(name, {"K": value}).action),
    "delete": attempt(lambda: kitaru.delete_secret(name).name),
}))
"""


def assert_every_sdk_call_refused(store: Store, detail: str) -> None:
    value = f"canary-{uuid.uuid4().hex}"
    results = run_py(store.config, _TRY_EVERYTHING, "enc-public", value)
    for op, res in results.items():
        assert res["ok"] is False, (op, res)
        assert res["type"] == "EncryptionKeyError" and res["kitaru"], (op, res)
        assert res["key_file"] == str(store.paths.key_file), (op, res)
        assert str(store.paths.key_file) in res["message"]
        assert detail in res["message"]
        assert value not in res["message"]


def other_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii") + "\n"


def test_wrong_key_is_refused_and_never_overwritten(store: Store, restore_key: None) -> None:
    p = store.paths
    p.key_file.write_text(other_key(), encoding="utf-8")
    os.chmod(p.key_file, 0o600)
    wrong = p.key_file.read_bytes()
    check_before = p.key_check_file.read_bytes()
    mtime = p.key_file.stat().st_mtime_ns

    for args in (
        ("secrets", "list"),
        ("secrets", "set", "enc-brand-new", "--K=v"),
        ("secrets", "delete", "enc-public"),
    ):
        line = assert_key_error_line(cli(store.config, *args), p.key_file)
        assert "does not match" in line
    assert_every_sdk_call_refused(store, "does not match")

    assert p.key_file.read_bytes() == wrong
    assert p.key_file.stat().st_mtime_ns == mtime
    assert p.key_check_file.read_bytes() == check_before
    assert set(secret_rows(p.local_store_db)) == set(store.values)

    p.key_file.write_text(store.key + "\n", encoding="utf-8")
    assert_readable_and_unchanged(store)


@pytest.mark.parametrize("fingerprint_file", ["matches-wrong-key", "deleted"])
def test_wrong_key_is_caught_without_a_usable_fingerprint(
    store: Store, restore_key: None, fingerprint_file: str
) -> None:
    """A swapped key whose fingerprint was swapped too (or lost) still cannot write."""
    p = store.paths
    wrong = other_key()
    p.key_file.write_text(wrong, encoding="utf-8")
    if fingerprint_file == "deleted":
        p.key_check_file.unlink()
    else:
        p.key_check_file.write_text(fingerprint(wrong.strip()) + "\n", encoding="utf-8")
    check_before = p.key_check_file.read_bytes() if p.key_check_file.exists() else None

    assert_every_sdk_call_refused(store, "cannot be decrypted")

    assert p.key_file.read_text(encoding="utf-8") == wrong
    now = p.key_check_file.read_bytes() if p.key_check_file.exists() else None
    assert now == check_before  # the wrong key's fingerprint was not recorded
    assert set(secret_rows(p.local_store_db)) == set(store.values)


def test_right_key_rebuilds_a_lost_fingerprint_and_tightens_its_mode(
    store: Store, restore_key: None
) -> None:
    p = store.paths
    original, key = p.key_check_file.read_bytes(), p.key_file.read_bytes()
    p.key_check_file.unlink()
    os.chmod(p.key_file, 0o644)
    assert_readable_and_unchanged(store)
    assert p.key_check_file.read_bytes() == original
    assert stat.S_IMODE(p.key_check_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.key_file.stat().st_mode) == 0o600
    assert p.key_file.read_bytes() == key  # a later start reuses the key as it is


def test_missing_key_is_refused_and_not_recreated(store: Store, restore_key: None) -> None:
    p = store.paths
    p.key_file.unlink()
    for args in (
        ("secrets", "show", "enc-public"),
        ("secrets", "set", "enc-brand-new", "--K=v"),
    ):
        line = assert_key_error_line(cli(store.config, *args), p.key_file)
        assert "missing" in line
        assert not p.key_file.exists()
    assert_every_sdk_call_refused(store, "missing")
    assert not p.key_file.exists()

    status = json.loads(cli(store.config, "status", "--json").stdout)
    assert status["encryption_at_rest"] is False
    assert "MISSING" in status["encryption"]

    p.key_file.write_text(store.key + "\n", encoding="utf-8")
    os.chmod(p.key_file, 0o600)
    assert_readable_and_unchanged(store)
