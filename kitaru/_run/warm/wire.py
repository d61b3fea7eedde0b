"""Where the warm runner listens, and the framed JSON messages on its socket.

One runner per user and per store: its socket is ``<hash>.sock`` in
``$TMPDIR/kitaru-runner-<uid>/`` (mode 0700, refused if another user owns it),
the hash taken over kitaru's config directory and server URL. A socket path
must fit in about 100 bytes, hence the temp directory and not the config one.
Messages are 4-byte big-endian lengths followed by UTF-8 JSON; the first
request carries the caller's stdin, stdout and stderr as file descriptors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

from kitaru._config import config_dir
from kitaru._config.connection import server_url
from kitaru.errors import BackendError

ENV_RUNNER = "KITARU_RUNNER"
ENV_IDLE = "KITARU_RUNNER_IDLE_S"
IDLE_EXIT_S = 600.0
_HEADER = struct.Struct(">I")
_MAX_MESSAGE = 64 * 1024 * 1024


def runner_error(message: str) -> BackendError:
    """The error for a warm runner that cannot be reached or used."""
    return BackendError(message, operation="runner")


def runner_dir() -> Path:
    """This user's runner directory (0700), created if missing."""
    path = Path(tempfile.gettempdir()) / f"kitaru-runner-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise runner_error(f"{path} is not a directory of yours; remove it to use the runner.")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def socket_path() -> Path:
    """The socket of the runner for the current store."""
    key = f"{config_dir()}|{server_url() or ''}|{sys.executable}"
    return runner_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"


def preload_file() -> Path:
    """Where a child names the modules its run imported (the runner preloads them)."""
    return socket_path().with_suffix(".preload.json")


def peer_uid(conn: socket.socket) -> int:
    """The user ID of the process at the other end of a Unix socket."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def send(conn: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode("utf-8")
    frame = _HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(conn, [frame[:1]], fds)
        conn.sendall(frame[sent:])
    else:
        conn.sendall(frame)


def receive(conn: socket.socket, with_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """One message (None if the peer closed) and the descriptors that came with it."""
    fds: list[int] = []
    head = b""
    if with_fds:
        head, fds, _, _ = socket.recv_fds(conn, 1, with_fds)
        if not head:
            return None, fds
    head += _exactly(conn, _HEADER.size - len(head))
    if len(head) < _HEADER.size:
        return None, fds
    (size,) = _HEADER.unpack(head)
    if size > _MAX_MESSAGE:
        raise runner_error("The runner's peer sent an oversized message.")
    body = _exactly(conn, size)
    if len(body) < size:
        return None, fds
    return json.loads(body), fds


def _exactly(conn: socket.socket, n: int) -> bytes:
    chunks = b""
    while len(chunks) < n:
        part = conn.recv(n - len(chunks))
        if not part:
            break
        chunks += part
    return chunks
