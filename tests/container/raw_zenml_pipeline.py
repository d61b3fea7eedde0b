"""A raw ZenML dynamic pipeline (no kitaru flow) on a ``local_docker`` stack.

    python raw_zenml_pipeline.py IMAGE [--plan ok,fail,...] [--host-network]

Run it from a directory of its own: ZenML ships that directory to the container
as the code archive. kitaru's store is the one of ``KITARU_CONFIG_PATH`` (or the
server it is logged in to); ``DOCKER_HOST`` names the daemon. It registers (once)
a stack of the ``local_docker`` orchestrator, the ``local`` image builder and the
default artifact store, runs the pipeline once per entry of ``--plan`` on it
(``fail``: its second step raises) with the image as parent
image and no build (on the embedded store the container also gets kitaru's
config directory, where the secrets store's key is), and prints one JSON line:
per run its id, status, wall time and step outputs (read back on the host).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from zenml import pipeline, step

STACK = "kitaru-test-docker"


@step
def inspect_runtime(x: int) -> dict[str, Any]:
    """Where this step ran: the container's venv and ZenML's code directory."""
    return {"x": x, "prefix": sys.prefix, "cwd": os.getcwd(), "file": __file__}


@step
def finish(seen: dict[str, Any], fail: bool) -> int:
    if fail:
        raise RuntimeError("raw step failed on purpose")
    return int(seen["x"]) * 2


@pipeline(dynamic=True)
def raw_container_pipeline(x: int, fail: bool) -> None:
    seen = inspect_runtime(x)
    finish(seen, fail)


def ensure_stack(client: Any) -> None:
    from zenml.enums import StackComponentType

    if any(s.name == STACK for s in client.list_stacks(size=100).items):
        client.activate_stack(STACK)
        return
    default = client.get_stack("default")
    store = default.components[StackComponentType.ARTIFACT_STORE][0]
    client.create_stack_component(STACK, "local_docker", StackComponentType.ORCHESTRATOR, {})
    client.create_stack_component(STACK, "local", StackComponentType.IMAGE_BUILDER, {})
    client.create_stack(
        STACK,
        components={
            StackComponentType.ORCHESTRATOR: STACK,
            StackComponentType.IMAGE_BUILDER: STACK,
            StackComponentType.ARTIFACT_STORE: store.name,
        },
    )
    client.activate_stack(STACK)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("image")
    parser.add_argument("--plan", default="ok", help="comma-separated runs: ok or fail")
    parser.add_argument("--host-network", action="store_true")
    opts = parser.parse_args()

    from zenml.config import DockerSettings

    from kitaru._config import config_dir
    from kitaru._zenml.client import get_client, server_url

    client = get_client()
    ensure_stack(client)
    run_args: dict[str, Any] = {"network_mode": "host"} if opts.host_network else {}
    if server_url() is None:
        # ZenML mounts only its local stores path; kitaru's secrets store in the
        # embedded database also needs the key file beside it, in the config dir.
        root = str(config_dir())
        run_args["volumes"] = {root: {"bind": root, "mode": "rw"}}
    configured = raw_container_pipeline.with_options(
        settings={
            "docker": DockerSettings(parent_image=opts.image, skip_build=True),
            "orchestrator": {"run_args": run_args},
        },
        enable_cache=False,
    )
    runs = []
    for kind in opts.plan.split(","):
        if kind not in ("ok", "fail"):
            parser.error(f"--plan: {kind!r} is neither ok nor fail")
        t0 = time.perf_counter()
        returned = configured(x=21, fail=kind == "fail")
        wall = time.perf_counter() - t0
        run = client.get_pipeline_run(returned.id)
        outputs = {}
        for name, step_run in run.steps.items():
            if step_run.status.value == "completed":
                outputs[name] = step_run.output.load()
        runs.append(
            {"id": str(run.id), "status": run.status.value, "wall": wall, "outputs": outputs}
        )
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
