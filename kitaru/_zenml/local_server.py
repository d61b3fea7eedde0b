"""``kitaru login --local``: ZenML's server and dashboard on 127.0.0.1 over kitaru's own store.

The server is ZenML's FastAPI app under uvicorn, started as a detached process
on the embedded SQLite store that kitaru uses when logged out: the same runs,
the same secrets, encrypted with the same key (ZenML loads
:class:`~kitaru._zenml.keyed_store.KitaruSqlSecretsStore`, which reads
``secrets.key`` next to the database). While it runs, every kitaru command
talks to it over REST, so only the server opens the database.

The server asks for a password (a random one, kept in ``local-server.password``,
mode 0600), not ZenML's ``NO_AUTH`` of ``zenml login --local``: anyone else on
this machine could otherwise read every secret through it. Before it starts,
ZenML's onboarding survey is marked as answered for the store's user, with no
newsletter subscription. It may read the local artifact store
(``ZENML_SERVER_ALLOW_LOCAL_FILE_ACCESS``), so the dashboard shows outputs. It
serves ZenML's dashboard with kitaru's edits (see ``dashboard_files``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kitaru._config import ENV_CONFIG_PATH, Paths, paths, write_private_file
from kitaru._zenml import dashboard_files
from kitaru._zenml.local_server_state import state_file
from kitaru.errors import BackendError, KitaruValidationError

DEFAULT_PORT = 8237
USER = "default"  # the embedded store's own user, who owns its runs and secrets
START_TIMEOUT_S = 120.0
INSTALL_HINT = "pip install 'kitaru[server]'"
# What the dashboard reads to decide that the onboarding survey was answered.
_SURVEY_DONE: dict[str, Any] = {"finished_onboarding_survey": True, "awareness_channels": []}


@dataclass(frozen=True)
class LocalServer:
    """A local server kitaru started (what ``local-server.json`` holds)."""

    url: str
    pid: int
    user: str
    password_file: Path
    log_file: Path


def _password_file(p: Paths) -> Path:
    return p.root / "local-server.password"


def missing_server_extra() -> str | None:
    """What to install for the local server, or None if ZenML's server can run here."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        return (
            f"The local server needs ZenML's server packages ({exc.name or 'fastapi'} is "
            f"missing). Install them with: {INSTALL_HINT}"
        )
    return None


def running() -> LocalServer | None:
    """The local server kitaru started for this config directory, if it still runs."""
    p = paths()
    try:
        data = json.loads(state_file(p).read_text(encoding="utf-8"))
        server = LocalServer(
            url=str(data["url"]),
            pid=int(data["pid"]),
            user=str(data["user"]),
            password_file=Path(data["password_file"]),
            log_file=Path(data["log_file"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if _is_our_server(server.pid) else None


def _is_our_server(pid: int) -> bool:
    """True if ``pid`` is alive and is a ZenML server (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc here: trust the live pid
    return b"zen_server_api" in cmdline


def _free_port(preferred: int | None) -> int:
    candidates = [preferred] if preferred else [DEFAULT_PORT, 0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    if preferred:
        raise KitaruValidationError(f"Port {preferred} on 127.0.0.1 is in use.", field="port")
    raise BackendError("No free port on 127.0.0.1 for the local server.", operation="login")


def _prepare_store(password: str) -> None:
    """Give the store's user the server password and answer the onboarding survey.

    Done on the embedded store itself, before the server opens it; the store is
    closed again afterwards so the server is its only user.
    """
    from kitaru._zenml.client import get_client, reset_client

    client = get_client()
    from zenml.models import UserUpdate

    store = client.zen_store
    user = client.get_user(USER)
    store.update_user(
        user.id,
        UserUpdate(password=password, email_opted_in=False, user_metadata=_SURVEY_DONE),
    )
    engine = getattr(store, "engine", None)
    reset_client()
    if engine is not None:
        engine.dispose()


def server_environment(p: Paths, jwt_secret: str) -> dict[str, str]:
    """The server process's environment: kitaru's store, password auth, no analytics."""
    from kitaru._zenml.stored_paths import KEYED_STORE_CLASS_PATH

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZENML_", "KITARU_", "DISABLE_CREDENTIALS"))
    }
    env.update(
        {
            ENV_CONFIG_PATH: str(p.root),
            "ZENML_SERVER": "true",
            # The server's own ZenML config directory, apart from the client's.
            "ZENML_CONFIG_PATH": str(p.root / "zenml-local-server"),
            "ZENML_LOCAL_STORES_PATH": str(p.zenml / "local_stores"),
            "ZENML_STORE_URL": f"sqlite:///{p.local_store_db}",
            "ZENML_SECRETS_STORE_TYPE": "custom",
            "ZENML_SECRETS_STORE_CLASS_PATH": KEYED_STORE_CLASS_PATH,
            "ZENML_SERVER_AUTH_SCHEME": "OAUTH2_PASSWORD_BEARER",
            "ZENML_SERVER_JWT_SECRET_KEY": jwt_secret,
            "ZENML_SERVER_DEPLOYMENT_TYPE": "local",
            "ZENML_SERVER_ALLOW_LOCAL_FILE_ACCESS": "true",
            "ZENML_SERVER_AUTO_ACTIVATE": "true",
            "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_LOGGING_VERBOSITY": "WARN",
            "ZENML_ENABLE_RICH_TRACEBACK": "false",
            "AUTO_OPEN_DASHBOARD": "false",
        }
    )
    return env


def start(port: int | None = None) -> tuple[LocalServer, bool]:
    """Start the local server (or find it running); returns it and whether it was started.

    Raises:
        BackendError: the server extra is missing, or the server did not come up.
    """
    hint = missing_server_extra()
    if hint:
        raise BackendError(hint, operation="login")
    current = running()
    if current is not None:
        return current, False
    p = paths()
    password = secrets.token_urlsafe(24)
    _prepare_store(password)
    pw_file = _password_file(p)
    write_private_file(pw_file, password + "\n")
    chosen = _free_port(port)
    url = f"http://127.0.0.1:{chosen}"
    log_file = p.root / "local-server.log"
    env = server_environment(p, secrets.token_hex(32))
    # Its dashboard suggests `kitaru login` and lists durations and replays.
    env[dashboard_files.ENV_VAR] = str(dashboard_files.prepare(p.root / "local-dashboard"))
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "zenml.zen_server.zen_server_api:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(chosen),
        "--log-level",
        "warning",
    ]
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,  # outlives this command; stopped by `kitaru logout`
            cwd=str(p.root),
        )
    finally:
        os.close(fd)
    server = LocalServer(url, proc.pid, USER, pw_file, log_file)
    _wait_healthy(server, proc)
    state = {
        "url": url,
        "pid": proc.pid,
        "user": USER,
        "password_file": str(pw_file),
        "log_file": str(log_file),
        "started_at": int(time.time()),
    }
    write_private_file(state_file(p), json.dumps(state, indent=2) + "\n")
    return server, True


def _wait_healthy(server: LocalServer, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendError(
                f"The local ZenML server exited at start (code {proc.returncode}); "
                f"see {server.log_file}.",
                operation="login",
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/health", timeout=2, trust_env=False).status_code == 200:
                return
        time.sleep(0.3)
    _terminate(proc.pid)
    raise BackendError(
        f"The local ZenML server did not answer within {START_TIMEOUT_S:.0f} s; "
        f"see {server.log_file}.",
        operation="login",
    )


def read_password(server: LocalServer) -> str:
    """The dashboard password of ``server`` (from its 0600 file)."""
    return server.password_file.read_text(encoding="utf-8").strip()


def _terminate(pid: int, timeout: float = 15.0) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
        if done:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    status = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        if status.read_text().split(") ", 1)[1].startswith("Z"):
            return False  # exited, waiting to be reaped by its parent
    return True


def stop() -> str | None:
    """Stop the local server kitaru started; returns its URL (None if none ran)."""
    p = paths()
    server = running()
    state_file(p).unlink(missing_ok=True)
    if server is None:
        return None
    _terminate(server.pid)
    return server.url
