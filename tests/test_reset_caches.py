"""One function empties kitaru's per-process caches: ``kitaru._config.reset_caches``.

Tests that change what a cache was filled from behind its back call it instead
of poking each cache; each module registers its own cache on import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kitaru._config import connection, reset_caches, write_private_file
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
