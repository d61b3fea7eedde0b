"""Examples run as a user would run them, and never touch the user's secrets or aliases."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import PYTHON, REPO, run_cli

DEMO = REPO / "examples" / "demo.py"


def run_demo(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, str(DEMO)], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def demo_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KITARU_CONFIG_PATH", "OPENAI_", "KITARU_DEFAULT_MODEL"))
    }
    env.update(extra)
    return env


def test_demo_in_a_users_config_dir_leaves_their_secrets_and_default_alias(
    tmp_path: Path,
) -> None:
    config = {"KITARU_CONFIG_PATH": str(tmp_path / "mine")}
    for args in (
        ("secrets", "set", "github-creds", "--GITHUB_TOKEN=users-own-token"),
        ("secrets", "set", "openai-creds", "--OPENAI_API_KEY=users-own-key"),
        ("model", "register", "fast", "--model", "openai/gpt-4o-mini", "--secret",
         "openai-creds", "--api-base", "http://127.0.0.1:9/v1"),
    ):  # fmt: skip
        assert run_cli(*args, env=config).returncode == 0
    before = run_cli("model", "list", "-o", "json", env=config).stdout

    done = run_demo(demo_env(**config), tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "all with the linked key: True" in done.stdout

    shown = run_cli("secrets", "show", "github-creds", "--show-values", "-o", "json", env=config)
    assert json.loads(shown.stdout)["values"] == {"GITHUB_TOKEN": "users-own-token"}
    after = json.loads(run_cli("model", "list", "-o", "json", env=config).stdout)
    mine = [a for a in json.loads(before) if a.get("alias") == "fast"]
    assert [a for a in after if a.get("alias") == "fast"] == mine
    assert [a["alias"] for a in after if a.get("is_default")] == ["fast"]


def test_demo_without_a_config_dir_uses_a_temporary_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = demo_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    done = run_demo(env, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "temporary" in done.stdout
    assert not (home / ".config" / "kitaru").exists()
