"""A run in a real container (ZenML's ``local_docker``) vs raw ZenML on the same stack.

Uses the container test tier's machinery (``tests/_docker.py``): a private dockerd
under ``/var/tmp/kitaru-test-docker`` and kitaru's image built from this checkout
(reused when it exists; the first run builds it, a few minutes). Each variant
runs ``--reps`` times in one process, on the stack ``local_docker`` + ``local``
image builder + default artifact store, with the image as parent image and no
build at run time, on each store of ``--stores``:

- ``embedded``: kitaru's embedded SQLite store (ZenML bind-mounts it);
- ``server``: a ZenML server on 127.0.0.1 (the container uses host networking).

It prints, per store and variant, the wall time of one run (min and median),
timed in the launching process around the call that starts the run and waits
for it (``pipeline()``; ``flow.run().wait()``): container start, ZenML start-up
inside it, the steps, and the wait for the container to exit; and the kitaru /
raw ratio of the medians.

    .venv/bin/python benchmarks/bench_container.py [--reps 3] [--stores embedded,server]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common import REPO, load, say, table, temp_dir

sys.path.insert(0, str(REPO / "tests"))

from _docker import Daemon, ensure_kitaru_image, start_daemon
from container._support import container_runs, start_logged_in, take_containers

STORES = ("embedded", "server")


@dataclass
class Stack:
    """Where the variants run: the daemon, the image, kitaru's config dir and its store."""

    daemon: Daemon
    image: str
    config: Path
    store: str
    scratch: Path


def variant(mode: str) -> Callable[[Stack, int], list[float]]:
    """``reps`` runs of tests/container/container_runs.py in ``mode``; their wall times."""

    def measure_mode(stack: Stack, reps: int) -> list[float]:
        runs = container_runs(
            mode,
            stack.daemon,
            stack.image,
            stack.config,
            stack.scratch / f"{mode}-{stack.store}",
            ",".join(["ok"] * reps),
        )
        take_containers(stack.daemon, stack.image)
        failed = [r for r in runs if r["status"] != "completed"]
        if failed:
            raise RuntimeError(f"{mode} runs did not complete: {failed}")
        return [float(r["wall"]) for r in runs]

    return measure_mode


# One row per variant, in this order, on every store; both run on the same stack.
VARIANTS: dict[str, Callable[[Stack, int], list[float]]] = {
    "raw ZenML pipeline (2 steps)": variant("raw"),
    "kitaru flow (2 checkpoints)": variant("kitaru"),
}


def measure(stack: Stack, reps: int) -> list[list[str]]:
    rows = []
    medians = []
    for label, measure_variant in VARIANTS.items():
        say(f"[{stack.store}] {label}: {reps} runs ...")
        walls = measure_variant(stack, reps)
        medians.append(statistics.median(walls))
        rows.append(
            [
                stack.store,
                label,
                f"{min(walls):.1f} s",
                f"{medians[-1]:.1f} s",
                f"{medians[-1] / medians[0]:.2f}",
                " ".join(f"{w:.1f}" for w in walls),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per variant and store")
    parser.add_argument(
        "--stores", default=",".join(STORES), help=f"comma-separated, of {', '.join(STORES)}"
    )
    opts = parser.parse_args()
    stores = [s for s in opts.stores.split(",") if s]
    unknown = sorted(set(stores) - set(STORES))
    if unknown:
        parser.error(f"unknown store(s): {', '.join(unknown)}")
    say(load())
    daemon = start_daemon()
    rows: list[list[str]] = []
    try:
        with temp_dir("container") as scratch:
            image = ensure_kitaru_image(daemon, scratch)
            say(f"image {image}")
            for store in stores:
                if store == "embedded":
                    stack = Stack(daemon, image, scratch / "embedded-config", store, scratch)
                    rows += measure(stack, opts.reps)
                    continue
                server = start_logged_in(scratch / "server")
                try:
                    rows += measure(Stack(daemon, image, server.config, store, scratch), opts.reps)
                finally:
                    server.server.stop()
    finally:
        daemon.stop()
    say()
    say(table(["store", "variant", "min", "median", "vs raw", "all runs (s)"], rows))
    say(load())


if __name__ == "__main__":
    main()
