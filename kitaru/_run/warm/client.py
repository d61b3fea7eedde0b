"""The caller's side of the warm runner, and ``kitaru runner start|status|stop``.

:func:`maybe_run_warm` is called at the start of a flow's ``run()``. With
``KITARU_RUNNER=warm`` and a flow defined at the top level of a file, it asks
the runner (starting it if needed) to run the flow in a forked child, passing
this process's stdin/stdout/stderr, environment, working directory, argv and
sys.path, and waits for the result; Ctrl-C is forwarded to the child. Any other
flow (defined in a function, bound to an instance, typed at a prompt) returns
None: it runs in this process as without the runner.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kitaru._config import file_lock
from kitaru._run.warm import wire
from kitaru.errors import FlowFailedError

START_TIMEOUT_S = 300.0


class WarmHandle:
    """The outcome of a flow run in the warm runner: as a flow handle, already finished."""

    def __init__(self, flow_name: str, answer: dict[str, Any]) -> None:
        self.flow_name = flow_name
        self.execution_id = answer.get("execution_id") or ""
        self._answer = answer

    @property
    def status(self) -> str:
        """``completed`` or ``failed`` (the child waited for the run's end)."""
        return "completed" if self._answer.get("ok") else "failed"

    @property
    def error(self) -> BaseException | None:
        """The error that ended the execution, or None."""
        if self._answer.get("ok"):
            return None
        raw = self._answer.get("error")
        if raw:
            with contextlib.suppress(Exception):
                error = pickle.loads(base64.b64decode(raw))
                if isinstance(error, BaseException):
                    return error
        return FlowFailedError(
            execution_id=self.execution_id,
            flow=self.flow_name,
            error=self._answer.get("error_text"),
            checkpoint=None,
            status="failed",
        )

    def wait(self, timeout: float | None = None) -> Any:
        """The flow's result; raises its error if it failed."""
        error = self.error
        if error is not None:
            raise error
        raw = self._answer.get("result")
        if raw is None:
            raise wire.runner_error(
                f"The result of execution {self.execution_id} could not be handed over by "
                "the warm runner (not picklable); read it with kitaru.get_execution()."
            )
        return pickle.loads(base64.b64decode(raw))


def _target(flow: Any) -> dict[str, Any] | None:
    """Where a child finds this flow by path, or None if it cannot."""
    fn = getattr(flow, "__wrapped__", None)
    code = getattr(fn, "__code__", None)
    qualname = getattr(fn, "__qualname__", "")
    if code is None or not qualname or "." in qualname or "<" in qualname:
        return None
    if getattr(fn, "__self__", None) is not None:
        return None  # bound to an instance
    path = Path(code.co_filename)
    if not path.is_file():
        return None
    module = fn.__module__ if fn.__module__ != "__main__" else path.stem
    return {"path": str(path.resolve()), "module": module, "qualname": qualname}


def maybe_run_warm(
    flow: Any, args: tuple[Any, ...], kwargs: dict[str, Any], stack: str | None, progress: Any
) -> WarmHandle | None:
    """Run ``flow`` in the warm runner if ``KITARU_RUNNER=warm`` and it can; else None."""
    if os.environ.get(wire.ENV_RUNNER, "").strip().lower() != "warm":
        return None
    if threading.current_thread() is not threading.main_thread():
        return None  # Ctrl-C forwarding needs the main thread
    target = _target(flow)
    if target is None:
        return None
    request = {
        "op": "run",
        **target,
        "args": list(args),
        "kwargs": kwargs,
        "stack": stack,
        "progress": progress,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "argv": sys.argv,
        "sys_path": sys.path,
    }
    try:
        json.dumps(request)
    except (TypeError, ValueError):
        return None  # the in-process run reports what is wrong with the arguments
    conn = connect(start=True)
    assert conn is not None
    with conn:
        wire.send(conn, request, fds=[0, 1, 2])
        hello, _ = wire.receive(conn)
        if hello is None or "pid" not in hello:
            raise wire.runner_error("The warm runner did not start the run.")
        answer = _wait_forwarding_signals(conn, int(hello["pid"]))
    name = getattr(flow, "flow_name", target["qualname"])
    return WarmHandle(str(name), answer)


def _wait_forwarding_signals(conn: socket.socket, pid: int) -> dict[str, Any]:
    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    before = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                answer, _ = wire.receive(conn)
                break
            except InterruptedError:
                continue
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    if answer is None:
        raise wire.runner_error(f"The warm runner's child {pid} ended without an answer.")
    return answer


# --------------------------------------------------------------------- the runner


def connect(*, start: bool) -> socket.socket | None:
    """A connection to this store's runner; started first if ``start`` (else None if down)."""
    path = wire.socket_path()
    conn = _try(path)
    if conn is not None or not start:
        return conn
    with file_lock(path.with_suffix(".lock")):
        conn = _try(path)
        if conn is not None:
            return conn
        log = path.with_suffix(".log")
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            subprocess.Popen(
                [sys.executable, "-m", "kitaru._run.warm.runner"],
                stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True,
                close_fds=True,
            )  # fmt: skip
        finally:
            os.close(fd)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            conn = _try(path)
            if conn is not None:
                return conn
            time.sleep(0.1)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise wire.runner_error(f"The warm runner did not start ({' '.join(tail) or 'no output'}).")


def _try(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    return conn


def _ask(op: str) -> dict[str, Any] | None:
    conn = connect(start=False)
    if conn is None:
        return None
    with conn:
        wire.send(conn, {"op": op})
        answer, _ = wire.receive(conn)
    return answer


def start() -> dict[str, Any]:
    """Start this store's runner (if it is not running) and return its status."""
    conn = connect(start=True)
    if conn is not None:
        conn.close()
    found = _ask("status")
    if found is None:
        raise wire.runner_error("The warm runner started but does not answer.")
    return found


def status() -> dict[str, Any] | None:
    """The runner's status, or None if none runs for this store."""
    return _ask("status")


def stop() -> dict[str, Any] | None:
    """Ask the runner to exit (running children finish); None if none was running."""
    return _ask("stop")
