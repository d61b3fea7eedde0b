"""`kitaru init`, `kitaru status`, `python -m kitaru` and `--version` as a new user meets them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import PYTHON, run_cli


def test_init_is_idempotent_and_says_what_it_did(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    config = tmp_path / "config"
    env = {"KITARU_CONFIG_PATH": str(config)}

    def init() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(PYTHON).parent / "kitaru"), "init"],
            cwd=project,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=300,
        )

    first = init()
    assert first.returncode == 0, first.stderr
    assert (project / ".kitaru").is_dir()
    assert "Created" in first.stdout and str(project / ".kitaru") in first.stdout
    assert "Created the local store" in first.stdout and "encrypted at rest" in first.stdout
    assert (config / "secrets.key").exists()

    second = init()
    assert second.returncode == 0, second.stderr
    assert "Already initialized" in second.stdout and "nothing changed" in second.stdout
    assert "Using the existing local store" in second.stdout

    status = run_cli("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "local" in status.stdout and str(config) in status.stdout
    assert "Encryption at rest: on" in status.stdout
    data = json.loads(run_cli("status", "--json", env=env).stdout)
    assert data["store"] == "local" and data["store_exists"] is True
    assert data["encryption_at_rest"] is True and data["config_path"] == str(config)


def test_python_dash_m_and_version() -> None:
    out = subprocess.run(
        [PYTHON, "-m", "kitaru", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "secrets" in out.stdout and "executions" in out.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and "kitaru" in version.stdout and "0.1.0" in version.stdout
    for group in ("secrets", "model", "executions"):
        helped = run_cli(group, "--help")
        assert helped.returncode == 0 and "Usage:" in helped.stdout, group
