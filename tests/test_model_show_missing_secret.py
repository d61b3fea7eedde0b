"""`kitaru model show` of an alias whose linked secret was deleted says it is missing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import PYTHON


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["KITARU_CONFIG_PATH"] = str(config)
    return subprocess.run(
        [str(Path(PYTHON).parent / "kitaru"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_model_show_says_the_linked_secret_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "kitaru"
    assert cli(config, "secrets", "set", "llm-creds", "--OPENAI_API_KEY=sk-x").returncode == 0
    registered = cli(
        config,
        "model",
        "register",
        "fast",
        "--model",
        "openai/gpt-4o-mini",
        "--secret",
        "llm-creds",
    )
    assert registered.returncode == 0, registered.stderr
    assert "secret:llm-creds" in cli(config, "model", "show", "fast").stdout
    assert cli(config, "secrets", "delete", "llm-creds", "--yes").returncode == 0

    shown = cli(config, "model", "show", "fast")
    assert shown.returncode == 0, shown.stderr
    assert "llm-creds (missing)" in shown.stdout
    assert (
        "'llm-creds' is missing" in shown.stdout and "kitaru secrets set llm-creds" in shown.stdout
    )
    data = json.loads(cli(config, "model", "show", "fast", "-o", "json").stdout)
    assert data["credential"]["source"] == "none"
