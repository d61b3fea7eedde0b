"""Fast paths against a real ZenML server on 127.0.0.1 (service account, API key).

A ZenML server checks an API key against its hash on every login, which costs
most of a second; kitaru keeps the token in a 0600 file keyed by a hash of the
server URL and the key, and drops it on expiry, on a 401 or for another key.
Stack reads go over the REST API too, with no ZenML import, and agree with
ZenML's client.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _team_server import Server, admin_finish, admin_setup, clean_env, start_server, wait_ready

from kitaru._config import paths, token_cache

KITARU = str(Path(sys.executable).parent / "kitaru")
TIMEOUT = 240


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("token-server"))
    try:
        wait_ready(srv)
        admin_finish(srv, admin_setup(srv, {}, service_account="ci-bot"))
        assert srv.api_key
        yield srv
    finally:
        srv.stop()


def kitaru(
    server: Server, config: Path, *args: str, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        KITARU_CONFIG_PATH=str(config),
        KITARU_SERVER_URL=server.url,
        KITARU_API_KEY=key or server.api_key or "",
    )
    return subprocess.run(
        [KITARU, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def token_files(config: Path) -> list[Path]:
    return sorted((config / "tokens").glob("*.json")) if (config / "tokens").exists() else []


def test_the_token_is_kept_private_and_reused(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "ci"
    ok(kitaru(server, config, "secrets", "set", "tok-one", "--K=canary-tok-1"))
    files = token_files(config)
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    first = json.loads(files[0].read_text())
    assert first["token"] and server.api_key not in files[0].read_text()

    listed = json.loads(ok(kitaru(server, config, "secrets", "list", "--json")))
    assert "tok-one" in [s["name"] for s in listed]
    # A new login would have given a new token (its issue time differs).
    assert json.loads(files[0].read_text())["token"] == first["token"]
    assert token_files(config) == files


def test_a_token_the_server_rejects_is_replaced_by_a_fresh_login(
    server: Server, tmp_path: Path
) -> None:
    config = tmp_path / "ci"
    ok(kitaru(server, config, "secrets", "list"))
    [path] = token_files(config)
    data = json.loads(path.read_text())
    data["token"] = data["token"][:-6] + "AAAAAA"  # tampered, as a revoked one would be
    path.write_text(json.dumps(data))

    ok(kitaru(server, config, "secrets", "set", "tok-two", "--K=canary-tok-2"))
    fresh = json.loads(path.read_text())["token"]
    assert fresh != data["token"]
    assert "tok-two" in ok(kitaru(server, config, "secrets", "list"))


def test_another_key_drops_the_kept_token(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "ci"
    ok(kitaru(server, config, "secrets", "list"))
    assert len(token_files(config)) == 1

    wrong = kitaru(server, config, "secrets", "list", key="ZENKEY_not-a-real-key")
    assert wrong.returncode == 1
    assert "rejected" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    assert token_files(config) == []  # the other key's token is gone, nothing new kept

    ok(kitaru(server, config, "secrets", "list"))
    assert len(token_files(config)) == 1


# ------------------------------------------------------------------- stack reads

STACKS_VIA = """
import json, sys
from kitaru._zenml import stacks
if sys.argv[1] == "zenml":
    stacks.read_stacks = lambda: None
print(json.dumps({"stacks": stacks.list_stacks(), "current": stacks.current_stack(),
                  "zenml": "zenml" in sys.modules}))
"""


def test_stack_reads_over_rest_import_no_zenml_and_agree_with_zenml(
    server: Server, tmp_path: Path
) -> None:
    env = clean_env(
        KITARU_CONFIG_PATH=str(tmp_path / "ci"),
        KITARU_SERVER_URL=server.url,
        KITARU_API_KEY=server.api_key or "",
    )
    seen = {}
    for via in ("rest", "zenml"):
        out = subprocess.run(
            [sys.executable, "-c", STACKS_VIA, via],
            env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        seen[via] = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["rest"]["zenml"] is False and seen["zenml"]["zenml"] is True
    assert seen["rest"]["stacks"] == seen["zenml"]["stacks"]
    assert seen["rest"]["current"] == seen["zenml"]["current"]
    assert seen["rest"]["current"]["name"] == "default"
    names = [c["name"] for c in seen["rest"]["stacks"][0]["components"]["orchestrator"]]
    assert names == ["default"]


# ------------------------------------------------------------- the cache itself


def test_a_token_near_its_expiry_is_dropped() -> None:
    url = "http://127.0.0.1:1"
    token_cache.save(url, "key-a", "tok-soon", token_cache.EXPIRY_MARGIN_S - 1)
    assert token_cache.load(url, "key-a") is None
    token_cache.save(url, "key-a", "tok-later", 3600)
    assert token_cache.load(url, "key-a") == "tok-later"
    assert token_cache.load("http://127.0.0.1:2", "key-a") is None  # another server
    assert token_cache.load(url, "key-b") is None  # another key: dropped
    assert token_cache.load(url, "key-a") is None


def test_a_damaged_cache_file_is_dropped() -> None:
    url = "http://127.0.0.1:3"
    token_cache.save(url, "key-a", "tok", None)
    assert token_cache.load(url, "key-a") == "tok"  # no expiry given: kept until a 401
    [path] = token_files(paths().root)
    path.write_text("{not json")
    assert token_cache.load(url, "key-a") is None
    assert not path.exists()
