"""A real ZenML server on 127.0.0.1 for the team-mode tests, and a cuttable proxy.

The server is ZenML's own FastAPI app under uvicorn, on SQLite, with password
auth and an encrypted SQL secrets store: the same variables as the README's
"Working as a team" section. ``ZENML_SECRETS_STORE_TYPE=sql`` matters: with a
store URL set, ZenML ignores ``ZENML_SECRETS_STORE_ENCRYPTION_KEY`` without it
and keeps values only base64-encoded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADMIN_PASSWORD = "admin-Passw0rd!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without any KITARU_*/ZENML_* settings of the test session."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KITARU_", "ZENML_", "DISABLE_CREDENTIALS"))
    }
    env["ZENML_ANALYTICS_OPT_IN"] = "false"
    env.update(extra)
    return env


@dataclass
class Server:
    """One running ZenML server process."""

    root: Path
    port: int
    encryption_key: str
    process: subprocess.Popen[bytes]
    log: Path
    users: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.root / "zenml.db"

    def stop(self) -> None:
        stop_all([self])


def stop_all(servers: list[Server]) -> None:
    """Stop server processes: SIGTERM to all first, then SIGKILL whatever lingers."""
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    for server in servers:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def server_env(root: Path, encryption_key: str, *, rbac: bool = False) -> dict[str, str]:
    """The server's environment (what the README documents)."""
    env = clean_env(
        ZENML_SERVER="true",
        ZENML_CONFIG_PATH=str(root / "server-config"),
        ZENML_STORE_URL=f"sqlite:///{root / 'zenml.db'}",
        ZENML_SERVER_DEPLOYMENT_TYPE="other",
        ZENML_SERVER_AUTH_SCHEME="OAUTH2_PASSWORD_BEARER",
        ZENML_SERVER_JWT_SECRET_KEY=secrets.token_hex(32),
        ZENML_SERVER_AUTO_ACTIVATE="true",
        ZENML_DEFAULT_USER_NAME="admin",
        ZENML_DEFAULT_USER_PASSWORD=ADMIN_PASSWORD,
        # Both are needed: with a store URL set, ZenML ignores the key unless the
        # secrets-store type is given too.
        ZENML_SECRETS_STORE_TYPE="sql",
        ZENML_SECRETS_STORE_ENCRYPTION_KEY=encryption_key,
    )
    if rbac:
        env["PYTHONPATH"] = str(HERE / "_team_rbac")
        env["ZENML_SERVER_RBAC_IMPLEMENTATION_SOURCE"] = "kitaru_test_rbac.DenySecretValuesRBAC"
    return env


def start_server(root: Path, *, rbac: bool = False) -> Server:
    """Start a server process (does not wait for it; see :func:`wait_ready`)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    key = secrets.token_urlsafe(32)
    log = root / "server.log"
    cmd = [
        sys.executable, "-m", "uvicorn", "zenml.zen_server.zen_server_api:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd, env=server_env(root, key, rbac=rbac), stdout=fh, stderr=subprocess.STDOUT,
            cwd=root, start_new_session=True,
        )  # fmt: skip
    return Server(root=root, port=port, encryption_key=key, process=proc, log=log)


def wait_ready(server: Server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"ZenML server exited with {server.process.returncode}:\n"
                + server.log.read_text(errors="replace")[-3000:]
            )
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"ZenML server at {server.url} did not answer /health in {timeout} s")


def admin_setup(
    server: Server, users: dict[str, str], service_account: str | None = None
) -> subprocess.Popen[str]:
    """Start creating ``users`` (and a service account) as admin; see :func:`admin_finish`."""
    args = [sys.executable, str(HERE / "_team_admin.py"), server.url, ADMIN_PASSWORD]
    args += [f"{u}:{p}" for u, p in users.items()]
    if service_account:
        args += ["--service-account", service_account]
    server.users.update(users)
    return subprocess.Popen(
        args, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def admin_finish(server: Server, proc: subprocess.Popen[str], timeout: float = 180) -> None:
    import json

    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"admin set-up failed:\n{err[-3000:]}")
    data = json.loads(out.strip().splitlines()[-1])
    server.api_key = data.get("api_key")


class CutProxy:
    """A TCP proxy to a server that "goes away" when a request line matches.

    When a client sends a request starting with ``trigger`` (for example
    ``b"PUT /api/v1/secrets/"``), that request is not forwarded: every
    connection is closed and the listening socket too, so later connections are
    refused, as if the server had died at that moment.
    """

    def __init__(self, target_port: int, trigger: bytes) -> None:
        self.target_port = target_port
        self.trigger = trigger
        self.port = free_port()
        self.triggered = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.triggered.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while not self.triggered.is_set():
                ready, _, _ = select.select([client, upstream], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        if data.startswith(self.trigger) or b"\r\n" + self.trigger in data:
                            self.cut()
                            return
                        upstream.sendall(data)
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        """The server goes away: refuse new connections and drop open ones."""
        self.triggered.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self.cut()
