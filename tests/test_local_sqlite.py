"""The embedded store's direct secret-table path agrees with ZenML's own, both ways."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid

import pytest
from conftest import PYTHON

import kitaru
from kitaru._config import reset_caches
from kitaru._store import local_sqlite, secret_store


def _zenml_side(code: str, **env: str) -> str:
    """Run ``code`` in a fresh process that must go through ZenML (fast path off)."""
    full = dict(os.environ, KITARU_DISABLE_FAST_STORE="1", **env)
    out = subprocess.run(
        [PYTHON, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_direct_writes_read_back_through_zenml_and_back(unique: str) -> None:
    name = f"fast-{unique}"
    value = f"v-{uuid.uuid4().hex}"
    created = kitaru.create_secret(name, {"TOKEN": value}, private=True)
    assert local_sqlite.connect() is not None, "the test store must take the direct path"

    seen = json.loads(
        _zenml_side(
            f"""
            import json, sys, kitaru
            s = kitaru.get_secret({created.id!r})
            kitaru.set_secret({name!r}, {{"OTHER": "o-{unique}"}})
            print(json.dumps({{"values": s.values, "private": s.private, "name": s.name,
                               "zenml": "zenml" in sys.modules}}))
            """
        )
    )
    assert seen == {"values": {"TOKEN": value}, "private": True, "name": name, "zenml": True}

    again = kitaru.get_secret(name)
    assert again.values == {"TOKEN": value, "OTHER": f"o-{unique}"}
    assert again.id == created.id and again.private is True
    kitaru.delete_secret(name)
    gone = _zenml_side(
        f"""
        import kitaru
        try:
            kitaru.get_secret({name!r})
        except kitaru.SecretNotFoundError:
            print("gone")
        """
    )
    assert gone == "gone"


def test_secrets_cli_does_not_import_zenml_on_an_existing_store(unique: str) -> None:
    kitaru.set_secret(f"cli-fast-{unique}", {"K": f"v-{unique}"})
    out = subprocess.run(
        [
            PYTHON,
            "-c",
            "import sys\nfrom kitaru.cli import cli\n"
            "try:\n    cli(['secrets', 'list', '--json'], standalone_mode=False)\n"
            "finally:\n    print('ZENML', 'zenml' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"cli-fast-{unique}" in out.stdout
    assert out.stdout.strip().endswith("ZENML False")


def test_unknown_schema_falls_back_to_zenml(unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_sqlite, "SCHEMA_VERSION", "0.0.0-not-this-store")
    assert local_sqlite.connect() is None
    reset_caches()  # the backend is chosen once per process: choose again
    try:
        assert secret_store.backend().kind == "zenml-embedded"
        name = f"fallback-{unique}"
        kitaru.create_secret(name, {"K": f"v-{unique}"})
        assert kitaru.get_secret(name).get("K") == f"v-{unique}"
        monkeypatch.undo()
        reset_caches()
        assert secret_store.backend().kind == "direct-sqlite"
        assert secret_store.get_secret(name).values == {"K": f"v-{unique}"}
    finally:
        monkeypatch.undo()
        reset_caches()


def test_concurrent_upserts_from_processes_keep_every_key(unique: str) -> None:
    """8 processes x 50 distinct keys into one secret: all 400 keys survive."""
    name = f"concurrent-{unique}"
    kitaru.create_secret(name, {"SEED": "seed-value"})
    code = textwrap.dedent(
        f"""
        import sys, kitaru
        w = int(sys.argv[1])
        for i in range(50):
            kitaru.set_secret({name!r}, {{f"W{{w}}_K{{i}}": f"v{{w}}-{{i}}"}})
        """
    )
    procs = [
        subprocess.Popen([PYTHON, "-c", code, str(w)], stderr=subprocess.PIPE, text=True)
        for w in range(8)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    values = kitaru.get_secret(name).values
    expected = {f"W{w}_K{i}": f"v{w}-{i}" for w in range(8) for i in range(50)}
    assert {k: v for k, v in values.items() if k != "SEED"} == expected


def test_opening_zenml_leaves_the_users_logging_alone(unique: str) -> None:
    """`import zenml` adds root handlers and lowers the root level; kitaru undoes both."""
    code = textwrap.dedent(
        f"""
        import logging, sys
        mine = logging.StreamHandler(sys.stderr)
        root = logging.getLogger()
        root.addHandler(mine)
        root.setLevel(logging.WARNING)
        import kitaru
        kitaru.set_secret("logging-{unique}", {{"K": "v-{unique}"}})
        assert "zenml" in sys.modules, "the ZenML path must have been taken"
        assert root.handlers == [mine], root.handlers
        assert root.level == logging.WARNING, root.level
        print("ok")
        """
    )
    assert _zenml_side(code) == "ok"
