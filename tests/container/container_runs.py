"""Runs on one ``local_docker`` stack: a raw ZenML pipeline, or the same work as a kitaru flow.

    python container_runs.py {raw|kitaru} IMAGE [--plan ok,fail,...]

Run it from a directory of its own: ZenML ships that directory to the container
as the code archive. kitaru's store is the one of ``KITARU_CONFIG_PATH`` (or the
server it is logged in to); ``DOCKER_HOST`` names the daemon.

Both modes use one stack, registered once with ``kitaru stack create``'s code:
the ``local_docker`` orchestrator with host networking, the ``local`` image
builder, the default artifact store, and IMAGE as the image runs start from
(nothing is built). Each entry of ``--plan`` is one run (``fail``: the second
step or checkpoint raises). The raw pipeline gets the settings a kitaru flow
gets from the stack (the image; on the embedded store, kitaru's config directory
mounted for the secrets store's key). It prints one JSON line: per run its id,
status, wall time (of the call that starts and waits for it) and its outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from zenml import pipeline, step

import kitaru

STACK = "kitaru-test-docker"


def where(x: int) -> dict[str, Any]:
    """Where this ran: the container's venv and ZenML's code directory."""
    return {"x": x, "prefix": sys.prefix, "cwd": os.getcwd(), "file": __file__}


def double(seen: dict[str, Any], fail: bool) -> int:
    if fail:
        raise RuntimeError("second step failed on purpose")
    return int(seen["x"]) * 2


where_step = step(where)
double_step = step(double)


@pipeline(dynamic=True)
def raw_container_pipeline(x: int, fail: bool) -> None:
    double_step(where_step(x), fail)


where_cp = kitaru.checkpoint(where)
double_cp = kitaru.checkpoint(double)


@kitaru.flow
def container_flow(x: int, fail: bool) -> dict[str, Any]:
    seen = where_cp(x)
    return {"where": seen, "double": double_cp(seen, fail)}


def ensure_stack(image: str) -> Any:
    """The stack's ``Orchestrator`` (registered on first use), made the active stack."""
    from kitaru._zenml import stacks

    if not any(s["name"] == STACK for s in stacks.list_stacks()):
        host = json.dumps({"network_mode": "host"})
        stacks.create_stack(STACK, "local_docker", image=image, options={"run_args": host})
    stacks.use_stack(STACK)
    with stacks.selected(STACK) as orchestrator:
        return orchestrator


def run_raw(orchestrator: Any, fail: bool) -> dict[str, Any]:
    from kitaru._zenml.client import get_client

    configured = raw_container_pipeline.with_options(
        settings=orchestrator.run_settings(), enable_cache=False
    )
    t0 = time.perf_counter()
    returned = configured(x=21, fail=fail)
    wall = time.perf_counter() - t0
    run = get_client().get_pipeline_run(returned.id)
    outputs = {
        name: step_run.output.load()
        for name, step_run in run.steps.items()
        if step_run.status.value == "completed"
    }
    return {"id": str(run.id), "status": run.status.value, "wall": wall, "outputs": outputs}


def run_kitaru(fail: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    handle = container_flow.run(21, fail, stack=STACK)
    try:
        outputs = handle.wait(timeout=600)
    except kitaru.FlowFailedError:
        outputs = {}
    wall = time.perf_counter() - t0
    return {"id": handle.execution_id, "status": handle.status, "wall": wall, "outputs": outputs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["raw", "kitaru"])
    parser.add_argument("image")
    parser.add_argument("--plan", default="ok", help="comma-separated runs: ok or fail")
    opts = parser.parse_args()
    plan = opts.plan.split(",")
    if set(plan) - {"ok", "fail"}:
        parser.error(f"--plan: each run is ok or fail, got {opts.plan!r}")
    orchestrator = ensure_stack(opts.image)
    runs = [
        run_raw(orchestrator, kind == "fail") if opts.mode == "raw" else run_kitaru(kind == "fail")
        for kind in plan
    ]
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
