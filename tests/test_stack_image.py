"""A container stack's image: recorded by `kitaru stack create --image`, turned into run settings.

No Docker here: the container tier (tests/container) runs flows on such a stack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import run_cli

from kitaru._zenml import stacks


def test_image_is_recorded_and_becomes_docker_settings(config_path: Path, unique: str) -> None:
    info = stacks.create_stack(
        f"box-{unique}",
        "local_docker",
        image="registry.example.com/agents:1",
        options={"run_args": json.dumps({"network_mode": "host"})},
    )
    assert info["image"] == "registry.example.com/agents:1"
    assert stacks.show_stack(f"box-{unique}")["image"] == "registry.example.com/agents:1"
    orch = info["components"]["orchestrator"][0]
    assert orch["config"]["run_args"] == {"network_mode": "host"}
    with stacks.selected(f"box-{unique}") as orchestrator:
        settings = orchestrator.run_settings()
    docker = settings["docker"]
    assert docker.parent_image == "registry.example.com/agents:1" and docker.skip_build
    # On the embedded store the container also gets kitaru's config dir (the key).
    root = str(config_path.resolve())
    volumes = settings["orchestrator.local_docker"]["run_args"]["volumes"]
    assert volumes == {root: {"bind": root, "mode": "rw"}}


def test_stack_without_image_builds_as_zenml_does(unique: str) -> None:
    info = stacks.create_stack(f"plain-{unique}", "local")
    assert info["image"] is None
    with stacks.selected(f"plain-{unique}") as orchestrator:
        assert orchestrator.run_settings() == {}


def test_cli_records_the_image_and_refuses_it_without_a_container_orchestrator(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "cfg")}
    bad = run_cli("stack", "create", "x", "--orchestrator", "local", "--image", "img:1", env=env)
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.startswith("Error:") and "--image" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    made = run_cli(
        "stack", "create", "box", "--orchestrator", "local_docker", "--image", "img:1",
        "--option", "synchronous=false", "--json", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["image"] == "img:1"
    listed = run_cli("stack", "list", "--json", env=env)
    # The refused stack "x" was never registered.
    assert sorted(s["name"] for s in json.loads(listed.stdout)) == ["box", "default"]
