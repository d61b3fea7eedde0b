"""One run in a child forked by the warm runner.

The child takes the caller's stdin, stdout and stderr (passed as descriptors),
environment, working directory, ``sys.argv`` and ``sys.path``; imports the
flow's file by its path under its module name (as a remote orchestrator would:
a script's ``if __name__ == "__main__":`` block does not run); runs the flow and
sends back the execution's ID and its result or error (pickled: both ends are
the same user's processes of the same interpreter). Secrets are read by the
child from the store itself; none crosses the socket.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import pickle
import signal
import socket
import sys
from typing import Any

from kitaru._run.warm import wire


def main(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """Run ``request`` and leave the process (never returns)."""
    code = 1
    try:
        code = _run(conn, request, fds)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _take_over(request: dict[str, Any], fds: list[int]) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as we do
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.pop(wire.ENV_RUNNER, None)  # the child runs the flow itself
    sys.argv = list(request["argv"])
    sys.path[:] = list(request["sys_path"])


def _load_flow(request: dict[str, Any]) -> Any:
    name, path = request["module"], request["path"]
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return getattr(module, request["qualname"])


def _pickled(value: Any) -> str | None:
    try:
        return base64.b64encode(pickle.dumps(value)).decode("ascii")
    except Exception:  # noqa: BLE001 - an unpicklable value is reported by its text
        return None


def _run(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> int:
    _take_over(request, fds)
    before = set(sys.modules)
    wire.send(conn, {"pid": os.getpid()})
    execution_id: str | None = None
    try:
        flow = _load_flow(request)
        handle = flow.run(
            *request["args"], stack=request["stack"], progress=request["progress"],
            **request["kwargs"],
        )  # fmt: skip
        execution_id = handle.execution_id
        result = handle.wait()
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
        wire.send(
            conn,
            {
                "ok": False,
                "execution_id": execution_id,
                "error": _pickled(exc),
                "error_text": f"{type(exc).__name__}: {exc}",
            },
        )
        return 1
    wire.send(conn, {"ok": True, "execution_id": execution_id, "result": _pickled(result)})
    _tell_runner_what_was_imported(request, before)
    return 0


def _tell_runner_what_was_imported(request: dict[str, Any], before: set[str]) -> None:
    """Name the library modules this run had to import, for the runner to preload.

    Only modules of installed packages and kitaru count: never the flow's own code.
    """
    roots = ("zenml", "kitaru", "sqlalchemy", "pydantic", "sqlmodel")
    new = sorted(
        m
        for m in set(sys.modules) - before
        if m.split(".", 1)[0] in roots and m != request["module"]
    )
    if new:
        with contextlib.suppress(OSError):
            wire.preload_file().write_text(json.dumps(new), encoding="utf-8")
