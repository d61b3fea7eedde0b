"""Shared fixtures: one real kitaru/ZenML store per test session, in a temp dir.

The environment is set at import time, before kitaru or zenml is imported, so
every test (and every subprocess it starts) uses the temporary store and never
the developer's own config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="kitaru-tests-"))
os.environ["KITARU_CONFIG_PATH"] = str(_SESSION_ROOT / "config")
for _var in (
    "KITARU_SERVER_URL",
    "KITARU_API_KEY",
    "KITARU_DEFAULT_MODEL",
    "KITARU_MODEL_REGISTRY",
):
    os.environ.pop(_var, None)
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def config_path() -> Path:
    """The session's KITARU_CONFIG_PATH."""
    return Path(os.environ["KITARU_CONFIG_PATH"])


@pytest.fixture
def unique() -> str:
    """A short unique suffix for secret names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def canary() -> str:
    """A unique, greppable fake credential."""
    return f"canary-{uuid.uuid4().hex}"


def run_cli(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `kitaru` console script in a subprocess."""
    exe = Path(PYTHON).parent / "kitaru"
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [str(exe), *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def fresh_config(tmp_path: Path) -> Iterator[Path]:
    """A brand-new, empty KITARU_CONFIG_PATH for subprocess-based tests."""
    path = tmp_path / "kitaru-config"
    yield path


@pytest.fixture(scope="session")
def openai_server() -> Iterator[Any]:
    """A local OpenAI-compatible server on 127.0.0.1 (random port) for the session.

    It records every request (headers, JSON body). Tests reset ``fail_next`` and
    ``fail_message`` themselves and find their requests by a marker in the prompt.
    """
    from kitaru.testing import LocalOpenAIServer

    server = LocalOpenAIServer(port=0).start()
    try:
        yield server
    finally:
        server.stop()
