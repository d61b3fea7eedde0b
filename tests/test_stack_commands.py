"""`kitaru stack create` checks the flavor's packages first; `kitaru stack delete NAME`."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from kitaru._config import Paths


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config)})


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Unexpected" not in lines[0]
    return lines[0]


def component_count(config: Path) -> int:
    conn = sqlite3.connect(Paths(config).local_store_db)
    try:
        return int(conn.execute("SELECT count(*) FROM stack_component").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.skipif(
    importlib.util.find_spec("kubernetes") is not None, reason="kubernetes is installed here"
)
def test_a_flavor_whose_packages_are_missing_is_refused_before_registering(
    tmp_path: Path,
) -> None:
    config = tmp_path / "kitaru"
    assert cli(config, "stack", "list").returncode == 0
    before = component_count(config)
    line = one_line(cli(config, "stack", "create", "k8s", "--orchestrator", "kubernetes"), 1)
    assert "pip install" in line and "kubernetes" in line and "Nothing was registered" in line
    assert component_count(config) == before
    assert "k8s" not in cli(config, "stack", "list").stdout


def test_delete_removes_the_stack_and_its_own_components(tmp_path: Path) -> None:
    config = tmp_path / "kitaru"
    assert cli(config, "stack", "list").returncode == 0
    before = component_count(config)
    assert cli(config, "stack", "create", "dev", "--orchestrator", "local").returncode == 0
    assert component_count(config) > before

    assert "default" in one_line(cli(config, "stack", "delete", "default"), 2)
    assert cli(config, "stack", "use", "dev").returncode == 0
    assert "active" in one_line(cli(config, "stack", "delete", "dev"), 2)
    assert cli(config, "stack", "use", "default").returncode == 0

    deleted = cli(config, "stack", "delete", "dev", "-o", "json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["name"] == "dev"
    assert deleted.stderr == ""
    names = [s["name"] for s in json.loads(cli(config, "stack", "list", "-o", "json").stdout)]
    assert names == ["default"]
    assert component_count(config) == before
    assert "Unknown stack 'dev'" in one_line(cli(config, "stack", "delete", "dev"), 2)
