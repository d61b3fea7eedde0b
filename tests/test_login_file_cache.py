"""``server.json`` is parsed once per process and config path, and again when it changes.

The backend chooser and ZenML's client ask for the server URL on every call;
they must not re-read the login file each time, yet a login or logout (in this
process or another) must be seen at once. The parse is counted through the
module's own parse function (the filesystem is real).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kitaru._config import connection, write_private_file
from kitaru._zenml import client


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """A fresh config directory, no server in the environment; the parses made."""
    monkeypatch.setenv("KITARU_CONFIG_PATH", str(tmp_path / "cfg"))
    for var in ("KITARU_SERVER_URL", "KITARU_API_KEY", "KITARU_ALLOW_INSECURE"):
        monkeypatch.delenv(var, raising=False)
    made: list[Path] = []
    real: Callable[[Path], Any] = connection._parse_login_file

    def counted(f: Path) -> Any:
        made.append(f)
        return real(f)

    monkeypatch.setattr(connection, "_parse_login_file", counted)
    return made


def _login(root: Path, url: str, token: str, **extra: Any) -> Path:
    f = root / "server.json"
    data = {"version": 1, "url": url, "auth": "token", "token": token, "user": "u", **extra}
    write_private_file(f, json.dumps(data))  # what `kitaru login` writes (atomic, 0600)
    return f


def test_repeated_reads_parse_the_file_once(parses: list[Path], tmp_path: Path) -> None:
    url = "http://127.0.0.1:8401"
    _login(tmp_path / "cfg", url, "tok-one")
    for _ in range(5):
        assert connection.server_url() == url
        creds = connection.credentials_for(url)
        assert creds is not None and creds.credential == "tok-one"
        assert connection.insecure_allowed(url) is False
        assert client.adopted() is False  # ZenML's client keys its state by the URL too
    assert len(parses) == 1


def test_a_new_login_and_a_logout_are_seen(parses: list[Path], tmp_path: Path) -> None:
    root = tmp_path / "cfg"
    _login(root, "http://127.0.0.1:8401", "tok-one")
    assert connection.server_url() == "http://127.0.0.1:8401"
    # Same size, new content: a login (here, or by another process) writes a new file.
    _login(root, "http://127.0.0.1:8402", "tok-two")
    assert connection.server_url() == "http://127.0.0.1:8402"
    creds = connection.credentials_for("http://127.0.0.1:8402")
    assert creds is not None and creds.credential == "tok-two"
    assert len(parses) == 2
    assert connection.logout() == "http://127.0.0.1:8402"
    assert connection.server_url() is None
    assert connection.credentials_for("http://127.0.0.1:8402") is None
    assert len(parses) == 2  # a missing file needs no parse


def test_a_file_rewritten_in_place_is_seen(parses: list[Path], tmp_path: Path) -> None:
    f = _login(tmp_path / "cfg", "http://127.0.0.1:8401", "tok-one")
    assert connection.server_url() == "http://127.0.0.1:8401"
    # An editor writing over the same file: same inode, other size.
    with open(f, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"url": "http://127.0.0.1:8403/", "auth": "token", "token": "t3"}))
    assert connection.server_url() == "http://127.0.0.1:8403"
    assert len(parses) == 2


def test_each_config_path_has_its_own_login(
    parses: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _login(tmp_path / "cfg", "http://127.0.0.1:8401", "tok-one")
    _login(tmp_path / "other", "http://127.0.0.1:8404", "tok-four")
    assert connection.server_url() == "http://127.0.0.1:8401"
    monkeypatch.setenv("KITARU_CONFIG_PATH", str(tmp_path / "other"))
    assert connection.server_url() == "http://127.0.0.1:8404"
    monkeypatch.setenv("KITARU_CONFIG_PATH", str(tmp_path / "cfg"))
    assert connection.server_url() == "http://127.0.0.1:8401"
    assert len(parses) == 2
    assert os.stat(tmp_path / "cfg" / "server.json").st_mode & 0o077 == 0
