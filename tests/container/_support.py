"""Helpers of the container tier's tests (and of benchmarks/bench_container.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _docker import Daemon
from _team_server import ADMIN_PASSWORD, Server, clean_env, start_server, wait_ready

HERE = Path(__file__).resolve().parent
KITARU = str(Path(sys.executable).parent / "kitaru")
RUN_TIMEOUT = 600


@dataclass
class LoggedIn:
    """A ZenML server and a kitaru config directory logged in to it as admin."""

    server: Server
    config: Path


def start_logged_in(root: Path) -> LoggedIn:
    """Start a ZenML server on 127.0.0.1 and log a fresh kitaru config dir in as admin.

    The caller stops ``.server``; containers reach it with host networking.
    """
    server = start_server(root / "server")
    try:
        wait_ready(server)
        config = root / "admin-config"
        login = subprocess.run(
            [KITARU, "login", server.url, "-u", "admin", "--stdin"],
            input=ADMIN_PASSWORD + "\n",
            env=clean_env(KITARU_CONFIG_PATH=str(config)),
            capture_output=True,
            text=True,
            timeout=240,
            start_new_session=True,
        )
        if login.returncode != 0:
            raise RuntimeError(f"kitaru login failed:\n{login.stdout}{login.stderr}")
    except BaseException:
        server.stop()
        raise
    return LoggedIn(server=server, config=config)


def container_runs(
    mode: str, daemon: Daemon, image: str, config: Path, workdir: Path, plan: str
) -> list[dict[str, Any]]:
    """Run container_runs.py (``raw`` or ``kitaru``) from a code directory of its own.

    Returns its runs as JSON; see that script.
    """
    code = workdir / f"code-{mode}"
    code.mkdir(parents=True)
    shutil.copy2(HERE / "container_runs.py", code / "container_runs.py")
    proc = subprocess.run(
        [sys.executable, "container_runs.py", mode, image, "--plan", plan],
        cwd=code,
        env=daemon.env(clean_env(KITARU_CONFIG_PATH=str(config))),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return list(json.loads(proc.stdout.strip().splitlines()[-1])["runs"])


def take_containers(daemon: Daemon, image: str) -> list[dict[str, Any]]:
    """Inspect, then remove, the containers started from ``image`` (ZenML leaves them)."""
    ids = daemon.containers(f"ancestor={image}")
    info = json.loads(daemon.docker("inspect", *ids).stdout) if ids else []
    daemon.remove_containers(ids)
    return list(info)
