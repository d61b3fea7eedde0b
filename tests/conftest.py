"""Shared fixtures: one real kitaru/ZenML store per test session, in a temp dir.

The environment is set at import time, before kitaru or zenml is imported, so
every test (and every subprocess it starts) uses the temporary store and never
the developer's own config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
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
    "KITARU_SOURCE_ROOT",
    "KITARU_STACK",
    # The CLI fits its tables to COLUMNS when set, and pytest-xdist's workers set
    # it (to 80): the suite's commands see a plain pipe, as on CI, unless a test says.
    "COLUMNS",
    "LINES",
):
    os.environ.pop(_var, None)
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
# The store template (built once per ZenML version) is the session's own too.
os.environ.setdefault("KITARU_CACHE_DIR", str(_SESSION_ROOT / "cache"))

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# A pytest-xdist worker's main module has no file. ZenML's source root would then
# be the working directory (the checkout), and a flow defined in a test module
# would be imported a second time under another name ("tests.test_flow" beside
# pytest's "test_flow"), its checkpoints writing to that copy's globals. A serial
# ``python -m pytest`` has pytest's own ``__main__.py`` there: the workers get the
# same, so a test module is imported once, by pytest, in both.
_main = sys.modules["__main__"]
if os.environ.get("PYTEST_XDIST_WORKER") and not getattr(_main, "__file__", None):
    _main.__file__ = str(Path(pytest.__file__).parent / "__main__.py")

# Tests that share something machine-wide run one after another on one worker:
# the private dockerd of the container tier, this user's warm-runner directory,
# and process scans that would see another worker's flow processes.
_MACHINE_WIDE = ("container/", "test_warm_runner.py", "test_durability_remote.py")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile kitaru and the test helpers, as ``pip install`` compiles a package.

    The editable install writes no ``.pyc`` files, and with
    ``PYTHONDONTWRITEBYTECODE`` set (as on CI machines) each of the suite's
    hundreds of ``kitaru`` and flow subprocesses would compile kitaru's modules
    from source again (about 40 s of CPU over a full run, measured), while ZenML
    and the other installed packages were compiled when pip installed them.
    Under pytest-xdist the controller compiles, before it starts the workers.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import compileall

    for tree in ("kitaru", "tests"):
        compileall.compile_dir(REPO / tree, quiet=1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist, hand out whole modules, and the machine-wide ones together.

    A module's tests share its module-scoped fixtures (a server, a store), which
    would otherwise be set up on both workers.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].removeprefix("tests/")
            return "machine" if module.startswith(_MACHINE_WIDE) else module

    return ByModule(config, log)


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
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter with kitaru installed from a wheel built from the checkout, outside it."""
    from _fresh_venv import build_wheel, make_venv

    root = tmp_path_factory.mktemp("fresh-venv")
    return make_venv(root / "venv", build_wheel(REPO, root / "wheel"))


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


_SCAN_SCRIPT = r"""
import json, os, sys
job = json.load(sys.stdin)
needles = [bytes.fromhex(n) for n in job["needles"]]
hits = []
for dirpath, _dirs, files in os.walk(job["root"]):
    for name in files:
        path = os.path.join(dirpath, name)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        hits.extend([path, i] for i, n in enumerate(needles) if n in data)
json.dump({"files": sum(len(f) for _, _, f in os.walk(job["root"])), "hits": hits}, sys.stdout)
"""


def files_containing(
    root: Path, needles: Iterable[str | bytes]
) -> tuple[int, list[tuple[str, str]]]:
    """Scan every file under ``root`` for ``needles``; returns (files seen, [(path, needle)]).

    The files are read in a separate process. Opening and closing a SQLite
    database file (or its -wal/-shm) in a process that has it open through SQLite
    drops all of that process's POSIX locks on it; another process may then
    checkpoint and delete the WAL under the open connections, and this process's
    later writes become invisible to every other process ("disk I/O error").
    """
    items = [n.encode() if isinstance(n, str) else n for n in needles]
    proc = subprocess.run(
        [PYTHON, "-c", _SCAN_SCRIPT],
        input=json.dumps({"root": str(root), "needles": [n.hex() for n in items]}),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(proc.stdout)
    labels = [n.decode(errors="replace") for n in items]
    return int(out["files"]), [(path, labels[i]) for path, i in out["hits"]]
