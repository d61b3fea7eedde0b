"""A secret backend served from its own process, one JSON request per line.

Started by ``tests/test_backend_contract.py`` for backends that need a process of
their own (ZenML's client bound to a server). Arguments: the backend kind, then
for server kinds the URL, user name and password to log in with (into this
process's fresh ``KITARU_CONFIG_PATH``).

Request: ``{"op": "upsert", "args": [...], "kwargs": {...}}``. Answer:
``{"ok": true, "result": ...}`` or ``{"ok": false, "type": ..., "message": ...,
"attrs": {...}}`` for a kitaru error (never a value: kitaru errors hold none).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from kitaru._store.backend import ListedSecret, StoredSecret, Upserted
from kitaru.errors import KitaruError


def encode(value: Any) -> Any:
    if isinstance(value, StoredSecret):
        return {"__stored__": {**dataclasses.asdict(value), "values": dict(value.values)}}
    if isinstance(value, ListedSecret):
        return {"__listed__": dataclasses.asdict(value)}
    if isinstance(value, Upserted):
        return {
            "__upserted__": {
                "secret": encode(value.secret),
                "action": value.action,
                "kept_public": value.private_requested_but_kept_public,
            }
        }
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def make_backend(kind: str, args: list[str]) -> Any:
    from kitaru._config import connection

    if kind == "zenml-server":
        url, user, password = args
        connection.login_with_password(url, user, password)
        from kitaru._store.zenml_backend import ZenMLBackend

        return ZenMLBackend(url, server=True)
    raise SystemExit(f"unknown backend kind {kind}")


def main() -> None:
    backend = make_backend(sys.argv[1], sys.argv[2:])
    print(json.dumps({"ok": True, "result": backend.kind}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            result = getattr(backend, req["op"])(*req["args"], **req["kwargs"])
            out = {"ok": True, "result": encode(result)}
        except KitaruError as exc:
            attrs = {k: v for k, v in vars(exc).items() if isinstance(v, (str, bool, type(None)))}
            out = {"ok": False, "type": type(exc).__name__, "message": str(exc), "attrs": attrs}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
