"""The container tier's own infrastructure, proved with raw ZenML (no kitaru flow).

A dynamic pipeline of two steps runs in a real container through ZenML's
``local_docker`` orchestrator on kitaru's store: the embedded SQLite store (ZenML
bind-mounts its local stores path into the container) and a ZenML server on
127.0.0.1 (the container uses the host's network). The steps report where they
ran: the image's venv and ZenML's code directory, not this checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _docker import Daemon

from container._support import LoggedIn, container_runs, take_containers

pytestmark = pytest.mark.container


def assert_ran_in_container(run: dict[str, Any]) -> None:
    seen = run["outputs"]["where"]
    assert seen["prefix"] == "/opt/venv"
    assert seen["cwd"] == "/app/code"
    assert seen["file"] == "/app/code/container_runs.py"


def test_raw_pipeline_in_container_on_embedded_store(
    docker_daemon: Daemon, kitaru_image: str, tmp_path: Path
) -> None:
    ok, failed = container_runs(
        "raw", docker_daemon, kitaru_image, tmp_path / "config", tmp_path, "ok,fail"
    )
    assert ok["status"] == "completed"
    assert ok["outputs"]["double"] == 42
    assert_ran_in_container(ok)
    # ZenML's local_docker does not raise on a failed run: the run comes back failed.
    assert failed["status"] == "failed"
    assert "double" not in failed["outputs"]
    assert_ran_in_container(failed)
    containers = take_containers(docker_daemon, kitaru_image)
    assert sorted(c["State"]["ExitCode"] != 0 for c in containers) == [False, True]
    assert docker_daemon.containers(f"ancestor={kitaru_image}") == []


def test_raw_pipeline_in_container_on_server(
    docker_daemon: Daemon, kitaru_image: str, zenml_server: LoggedIn, tmp_path: Path
) -> None:
    [run] = container_runs("raw", docker_daemon, kitaru_image, zenml_server.config, tmp_path, "ok")
    assert run["status"] == "completed", run
    assert run["outputs"]["double"] == 42
    assert_ran_in_container(run)
    [container] = take_containers(docker_daemon, kitaru_image)
    assert container["State"]["ExitCode"] == 0
    assert container["HostConfig"]["NetworkMode"] == "host"
