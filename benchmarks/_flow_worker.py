"""Long-lived worker for bench_flow.py: one warm process, driven over a pipe.

``python _flow_worker.py kitaru`` runs kitaru flows (``KITARU_CONFIG_PATH`` set by
the parent); ``kitaru_nohooks`` the same with ZenML's own code put back where kitaru's
dashboard hooks replace it (``kitaru._zenml.step_code``: step source, flow source,
error info, output views, reused steps), i.e. the same build without them;
``python _flow_worker.py raw`` runs a raw ZenML dynamic pipeline with
default settings (``ZENML_CONFIG_PATH`` set by the parent) and never imports kitaru,
so kitaru's process-wide ZenML tuning cannot reach it.

Protocol: one JSON command per line on stdin, one JSON reply per line on the
original stdout. Everything else the process prints (ZenML's logs) goes to stderr,
which the parent sends to a log file.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

MODE = sys.argv[1] if len(sys.argv) > 1 else ""

# The reply channel is a private copy of stdout; fd 1 then points at stderr.
_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def plain_work(i: int) -> int:
    """The trivial body used by every variant."""
    return i + 1


def _timed(fn: Callable[[], Any]) -> dict[str, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def _without_dashboard_hooks() -> None:
    """Import kitaru's dashboard hooks (which install them), then put ZenML's code back."""
    from kitaru._zenml.client import get_client

    get_client()  # ZenML configured by kitaru, before any ZenML module is read
    from zenml.artifacts import utils as artifact_utils
    from zenml.orchestrators.step_launcher import StepLauncher
    from zenml.orchestrators.step_run_utils import StepRunRequestFactory
    from zenml.pipelines.pipeline_definition import Pipeline
    from zenml.utils import exception_utils

    targets = [artifact_utils, exception_utils, StepRunRequestFactory, Pipeline, StepLauncher]
    before = [dict(vars(t)) for t in targets]
    import kitaru._zenml.step_code  # noqa: F401 - installs the hooks

    restored = 0
    for target, saved in zip(targets, before, strict=True):
        for name, value in saved.items():
            if vars(target).get(name) is not value:
                setattr(target, name, value)
                restored += 1
    if restored != 6:  # the six places the hooks change
        raise RuntimeError(f"expected to undo 6 dashboard hooks, undid {restored}")


if MODE in ("kitaru", "kitaru_nohooks"):
    if MODE == "kitaru_nohooks":
        _without_dashboard_hooks()
    import kitaru
    from kitaru import checkpoint, flow

    @checkpoint
    def trivial(i: int) -> int:
        return plain_work(i)

    call_times: list[float] = []  # wall time of each checkpoint call, seen from the flow body

    @flow
    def bench_flow(n: int) -> int:
        total = 0
        for i in range(n):
            t0 = time.perf_counter()
            total += trivial(i)
            call_times.append(time.perf_counter() - t0)
        return total

    @checkpoint
    def read_secret_loop(name: str, key: str, n: int, rounds: int) -> dict[str, float]:
        first = kitaru.get_secret(name).get(key)  # the one read that hits the store
        assert first is not None
        fresh: list[float] = []
        held: list[float] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(n):
                kitaru.get_secret(name).get(key)
            fresh.append(time.perf_counter() - t0)
            secret = kitaru.get_secret(name)
            t0 = time.perf_counter()
            for _ in range(n):
                secret.get(key)
            held.append(time.perf_counter() - t0)
        return {"get_secret_get": min(fresh) / n, "held_get": min(held) / n}

    @flow
    def secret_flow(name: str, key: str, n: int, rounds: int) -> dict[str, float]:
        return read_secret_loop(name, key, n, rounds)

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "flow":
            n = int(cmd["n"])
            result: dict[str, Any] = {}

            def go() -> None:
                result["value"] = bench_flow(n)

            call_times.clear()
            out: dict[str, Any] = dict(_timed(go), calls=list(call_times))
            if result["value"] != sum(range(1, n + 1)):
                raise RuntimeError(f"wrong flow result {result['value']!r}")
            return out
        if op == "plain":
            n = int(cmd["n"])
            fn = trivial.__wrapped__  # type: ignore[attr-defined]
            return _timed(lambda: [fn(i) for i in range(n)])
        if op == "set_secret":
            kitaru.set_secret(cmd["name"], {cmd["key"]: cmd["value"]})
            return {}
        if op == "secret_reads":
            t0 = time.perf_counter()
            handle = secret_flow.run(cmd["name"], cmd["key"], int(cmd["n"]), int(cmd["rounds"]))
            out = handle.wait()
            return dict(
                out,
                flow_wall=time.perf_counter() - t0,
                audit_entries=len(getattr(handle, "secret_reads", ()) or ()),
            )
        raise ValueError(f"unknown op {op!r}")

elif MODE == "raw":
    from zenml import pipeline, step

    @step
    def raw_trivial(i: int) -> int:
        return plain_work(i)

    @pipeline(dynamic=True)
    def raw_pipeline(n: int) -> None:
        for i in range(n):
            raw_trivial(i)

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "flow":
            n = int(cmd["n"])
            return _timed(lambda: raw_pipeline(n))
        raise ValueError(f"unknown op {op!r}")

else:
    raise SystemExit("usage: _flow_worker.py kitaru|kitaru_nohooks|raw")


def main() -> None:
    _proto.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        try:
            reply = {"ok": True, **handle(cmd)}
        except Exception as exc:  # noqa: BLE001 (reported to the parent, which stops)
            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        _proto.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
