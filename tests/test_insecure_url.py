"""A credential never goes over plain http to another machine unless the user opts in."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from kitaru._config.connection import is_loopback


def _local_non_loopback_ip() -> str | None:
    """An address of this machine that is not loopback (the route a packet would take)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # TEST-NET: no packet is sent by a UDP connect
        except OSError:
            return None
        ip = str(s.getsockname()[0])
    return None if ip.startswith("127.") else ip


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def remote_url() -> Iterator[tuple[str, list[str]]]:
    """A plain-http server on a non-loopback address of this machine, recording requests."""
    ip = _local_non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback address")
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer((ip, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{ip}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_loopback_is_decided_by_address_not_by_prefix() -> None:
    assert is_loopback("http://127.0.0.1:8237")
    assert is_loopback("http://127.3.4.5:8237")
    assert is_loopback("http://[::1]:8237")
    assert is_loopback("http://localhost:8237")
    assert not is_loopback("http://127.0.0.1.attacker.invalid:8237")
    assert not is_loopback("http://192.0.2.10:8237")


def test_env_api_key_is_not_sent_over_plain_http(
    remote_url: tuple[str, list[str]], canary: str, fresh_config: Path
) -> None:
    url, seen = remote_url
    env = {
        "KITARU_CONFIG_PATH": str(fresh_config),
        "KITARU_SERVER_URL": url,
        "KITARU_API_KEY": canary,
        "KITARU_ALLOW_INSECURE": "",
    }
    proc = run_cli("secrets", "list", env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert "Refusing to send credentials" in proc.stderr and "KITARU_ALLOW_INSECURE" in proc.stderr
    assert canary not in proc.stderr
    assert seen == []

    # Opted in: the request is made (this server is no ZenML server, so it then fails).
    allowed = run_cli("secrets", "list", env={**env, "KITARU_ALLOW_INSECURE": "1"})
    assert allowed.returncode != 0 and "Refusing" not in allowed.stderr
    assert seen, "the opted-in command never contacted the server"
    assert canary not in allowed.stdout + allowed.stderr


def test_login_over_plain_http_is_refused_before_the_key_is_read(
    remote_url: tuple[str, list[str]], canary: str, fresh_config: Path
) -> None:
    url, seen = remote_url
    env = {"KITARU_CONFIG_PATH": str(fresh_config), "KITARU_ALLOW_INSECURE": ""}
    proc = run_cli("login", url, "--api-key", "--stdin", input=canary + "\n", env=env)
    assert proc.returncode == 2, proc.stderr
    assert "--allow-insecure" in proc.stderr and canary not in proc.stderr
    assert seen == []
    assert not (fresh_config / "server.json").exists()

    allowed = run_cli(
        "login", url, "--api-key", "--stdin", "--allow-insecure", input=canary + "\n", env=env
    )
    assert "Refusing" not in allowed.stderr and "plain http" in allowed.stderr
    assert seen  # contacted; it is no ZenML server, so the login itself fails
    assert canary not in allowed.stdout + allowed.stderr


def test_a_login_saved_with_allow_insecure_is_honoured(
    remote_url: tuple[str, list[str]], canary: str, fresh_config: Path
) -> None:
    url, seen = remote_url
    fresh_config.mkdir(parents=True)
    server_file = fresh_config / "server.json"
    login = {"version": 1, "url": url, "auth": "api_key", "user": None, "api_key": canary}
    server_file.write_text(json.dumps(login))
    server_file.chmod(0o600)
    env = {"KITARU_CONFIG_PATH": str(fresh_config), "KITARU_ALLOW_INSECURE": ""}
    refused = run_cli("secrets", "list", env=env)
    assert refused.returncode == 2 and "Refusing" in refused.stderr
    assert seen == []
    server_file.write_text(json.dumps({**login, "allow_insecure": True}))
    allowed = run_cli("secrets", "list", env=env)
    assert "Refusing" not in allowed.stderr
    assert seen
