"""Is the process that runs an execution still alive?

A runner records its pid with what makes the pid unambiguous: its start time
(pids are reused), its pid namespace (a container has its own pid 1) and the
host and boot it runs on. A reader that shares host, boot and pid namespace
checks the process directly, so a death is known at once. Any other reader
(another host, a container) cannot look, and relies on the runner's heartbeat
instead: a runner thread writes one every HEARTBEAT_S seconds, and a runner
whose heartbeat is older than STALE_S is taken for dead.
"""

from __future__ import annotations

import os
import socket
from functools import cache

from kitaru.runtime.record import RunnerInfo

HEARTBEAT_S = 5.0
STALE_S = 45.0


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # Field 22 (starttime); the command name (field 2) may hold spaces, so split after it.
    fields = stat.rpartition(")")[2].split()
    if fields and fields[0] in ("Z", "X"):
        return None  # a zombie has died; only its parent has not reaped it yet
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


@cache
def _host() -> tuple[str, str | None, str | None]:
    try:
        pidns: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = None
    return socket.gethostname(), pidns, _read("/proc/sys/kernel/random/boot_id")


def this_runner(token: str) -> RunnerInfo:
    """The current process as a runner, under ``token`` (unique per run attempt)."""
    host, pidns, boot_id = _host()
    pid = os.getpid()
    return RunnerInfo(
        token=token,
        pid=pid,
        start_ticks=_start_ticks(pid),
        pidns=pidns,
        host=host,
        boot_id=boot_id,
    )


def process_alive(info: RunnerInfo) -> bool | None:
    """True/False when this reader can check the runner's process, else None."""
    host, pidns, boot_id = _host()
    if info.host != host or info.pidns is None or info.pidns != pidns or info.boot_id != boot_id:
        return None
    if info.boot_id is None or info.start_ticks is None:
        return None
    return _start_ticks(info.pid) == info.start_ticks
