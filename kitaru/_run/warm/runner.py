"""The warm runner process: ZenML imported and the store open, forking a child per run.

Started by the first ``KITARU_RUNNER=warm`` run (or ``kitaru runner start``)
as ``python -m kitaru._run.warm.runner``, in a session of its own. It opens kitaru's
store once (creating or migrating it), imports what a flow run needs, then
closes every database connection: a forked child opens its own, and no two
processes ever share one. Each connection's peer must be this user. It exits
after ``KITARU_RUNNER_IDLE_S`` seconds (default 600) without a request or a
running child, on ``kitaru runner stop`` and on SIGTERM.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from kitaru._run.warm import wire
from kitaru.errors import BackendError

# Imported once here so that no child pays for them (what a local flow run loads).
_PRELOAD = (
    "kitaru.flow",
    "kitaru.checkpoint",
    "kitaru._zenml.pipelines",
    "kitaru._zenml.runs",
    "zenml.pipelines.pipeline_definition",
    "zenml.steps.base_step",
    "zenml.orchestrators.local.local_orchestrator",
    "zenml.materializers",
    "zenml.artifact_stores.local_artifact_store",
)


class Runner:
    """The listening socket, the children, and the idle clock."""

    def __init__(self, path: Path, idle_s: float) -> None:
        self.path = path
        self.idle_s = idle_s
        self.started = time.time()
        self.last_active = time.monotonic()
        self.children: set[int] = set()
        self.runs = 0
        self.stopping = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def bind(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        self.sock.bind(str(tmp))
        os.chmod(tmp, 0o600)
        self.sock.listen(16)
        os.replace(tmp, self.path)  # appears only once it accepts connections

    def serve(self) -> None:
        while not self.stopping:
            self._reap()
            if not self.children and time.monotonic() - self.last_active > self.idle_s:
                return
            ready, _, _ = select.select([self.sock], [], [], 1.0)
            if not ready:
                preload(wire.preload_file())
            else:
                conn, _ = self.sock.accept()
                with contextlib.suppress(OSError, ValueError, BackendError):
                    self._handle(conn)

    def _reap(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
            self.children.discard(pid)
            self.last_active = time.monotonic()

    def _handle(self, conn: socket.socket) -> None:
        if wire.peer_uid(conn) != os.getuid():
            conn.close()  # another user: not a word
            return
        request, fds = wire.receive(conn, with_fds=3)
        op = (request or {}).get("op")
        if op == "run" and len(fds) == 3 and request is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                from kitaru._run.warm import child

                self.sock.close()
                child.main(conn, request, fds)  # never returns
            self.children.add(pid)
            self.runs += 1
            # Only runs keep it alive: asking for its status must not.
            self.last_active = time.monotonic()
        elif op == "status":
            wire.send(conn, self.status())
        elif op == "stop":
            wire.send(conn, {"stopping": True, "pid": os.getpid()})
            self.stopping = True
        for fd in fds:
            os.close(fd)
        conn.close()

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "socket": str(self.path),
            "uptime_s": round(time.time() - self.started, 1),
            "runs": self.runs,
            "running": len(self.children),
            "idle_exit_s": self.idle_s,
            "python": sys.executable,
        }

    def close(self) -> None:
        self.sock.close()
        # The log only matters if the runner fails to start; a clean exit leaves none.
        for leftover in (self.path, self.path.with_suffix(".log"), wire.preload_file()):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def preload(listing: Path) -> None:
    """Import the modules a child named (see :mod:`kitaru._run.warm.child`), once."""
    try:
        names = json.loads(listing.read_text(encoding="utf-8"))
        listing.unlink()
    except (OSError, ValueError):
        return
    for name in names if isinstance(names, list) else []:
        if isinstance(name, str) and name.split(".", 1)[0] in (
            "zenml",
            "kitaru",
            "sqlalchemy",
            "pydantic",
            "sqlmodel",
        ):
            with contextlib.suppress(Exception):
                importlib.import_module(name)


def _warm_up() -> None:
    """Open the store once (creating or migrating it), then let go of the database."""
    from kitaru._zenml.client import get_client

    client = get_client()
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    preload(wire.preload_file())
    with contextlib.suppress(Exception):
        from zenml.environment import Environment

        Environment.get_python_packages()  # ``pip freeze``: kitaru's tuning memoises it
    engine = getattr(client.zen_store, "engine", None)
    if engine is not None:
        engine.dispose()  # each child opens its own connections


def main() -> None:
    path = wire.socket_path()
    idle = float(os.environ.get(wire.ENV_IDLE) or wire.IDLE_EXIT_S)
    os.environ.pop(wire.ENV_RUNNER, None)
    _warm_up()
    runner = Runner(path, idle)

    def stop(signum: int, frame: Any) -> None:
        runner.stopping = True

    signal.signal(signal.SIGTERM, stop)
    runner.bind()
    try:
        runner.serve()
    finally:
        runner.close()


if __name__ == "__main__":
    main()
