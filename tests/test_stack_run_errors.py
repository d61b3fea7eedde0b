"""A stack that cannot run here says so in one line: at run time, in a script, in `show`.

Two real failures, nothing mocked: a ``local_docker`` stack whose Docker engine
is a dead unix socket (bound, then closed: nothing listens), and a stack whose
orchestrator's ZenML integration (kubernetes) is not installed, registered the
way ZenML itself lets anyone register it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

FLOWS = """
from kitaru import checkpoint, flow


@checkpoint
def add(a: int, b: int) -> int:
    return a + b


@flow
def my_flow(x: int) -> int:
    return add(x, 1)


@checkpoint
def speak() -> None:
    raise RuntimeError("No container engine is available: the flow's own words")


@flow
def own_words() -> None:
    speak()
"""

SCRIPT = """
import sys

from flows import my_flow

my_flow.run(1, stack=sys.argv[1])
print("not reached")
"""

CAUGHT = """
import sys

from flows import my_flow
from kitaru.errors import BackendError, KitaruError

try:
    my_flow.run(1, stack=sys.argv[1])
except KitaruError as exc:
    print(type(exc).__name__, isinstance(exc, BackendError))
    print(str(exc))
"""


@pytest.fixture
def project(tmp_path: Path) -> dict[str, str]:
    """A project folder with a flow, its own store, and DOCKER_HOST at a dead socket."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "flows.py").write_text(FLOWS)
    (root / "script.py").write_text(SCRIPT)
    (root / "caught.py").write_text(CAUGHT)
    dead = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(dead))
    sock.close()  # the file stays; connecting to it is refused
    env = {
        "KITARU_CONFIG_PATH": str(tmp_path / "kitaru"),
        "DOCKER_HOST": f"unix://{dead}",
        "KITARU_PROGRESS": "0",
    }
    return {"root": str(root), "dead": str(dead), **env}


def _env(project: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KITARU_DEBUG"}
    env.update({k: v for k, v in project.items() if k.isupper()})
    env.update(extra)
    return env


def python(
    project: dict[str, str], script: str, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, script, *args],
        cwd=project["root"],
        env=_env(project, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def kitaru(project: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={k: v for k, v in project.items() if k.isupper()})


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "not reached" not in result.stdout
    return lines[0]


def test_local_docker_without_an_engine_is_one_line_and_show_says_it(
    project: dict[str, str],
) -> None:
    for name, extra in (("built", ()), ("prebuilt", ("--image", "python:3.11-slim"))):
        made = kitaru(project, "stack", "create", name, "--orchestrator", "local_docker", *extra)
        assert made.returncode == 0, made.stderr

    expected = (
        "kitaru.errors.BackendError: Stack '{}' cannot run flow 'my_flow': no Docker engine is "
        f"reachable at unix://{project['dead']}. Start Docker (or point DOCKER_HOST at a running "
        "engine) and run again, or run on another stack."
    )
    # Without an image ZenML fails building one (no run is made); with one, it fails
    # submitting the run it already made.
    for name in ("built", "prebuilt"):
        assert one_line(python(project, "script.py", name)) == expected.format(name)

    caught = python(project, "caught.py", "prebuilt")
    assert caught.returncode == 0, caught.stderr
    kind, message = caught.stdout.strip().splitlines()
    assert kind == "BackendError True"
    assert message == expected.format("prebuilt").removeprefix("kitaru.errors.BackendError: ")

    debug = python(project, "script.py", "prebuilt", KITARU_DEBUG="1")
    assert debug.returncode == 1
    assert "Traceback (most recent call last):" in debug.stderr
    assert "container engine docker is not available" in debug.stderr  # ZenML's own, kept

    runs = json.loads(kitaru(project, "executions", "list", "-o", "json").stdout)
    failed = [r for r in runs if r["stack"] == "prebuilt"]
    assert len(failed) == 3 and all(r["status"] == "failed" for r in failed)
    assert not [r for r in runs if r["stack"] == "built"]  # failed before a run was made
    reason = expected.format("prebuilt").removeprefix("kitaru.errors.BackendError: ")
    shown = kitaru(project, "executions", "show", failed[0]["id"])
    assert shown.returncode == 0, shown.stderr
    assert f"Error:      {reason}" in shown.stdout.splitlines()
    as_json = kitaru(project, "executions", "show", failed[0]["id"], "-o", "json")
    assert json.loads(as_json.stdout)["error"] == reason

    # A retry on the same stack fails the same way, in the same one line.
    retried = kitaru(project, "executions", "retry", failed[0]["id"])
    assert one_line(retried) == f"Error: {reason}"


REGISTER_K8S = """
from kitaru._zenml.client import get_client
from zenml.enums import StackComponentType as T

client = get_client()
orchestrator = client.create_stack_component(
    "k8s-orchestrator", "kubernetes", T.ORCHESTRATOR, {"kubernetes_context": "nowhere"}
)
default = client.get_stack("default", hydrate=True)
store = default.components[T.ARTIFACT_STORE][0].id
client.create_stack("k8s", {T.ORCHESTRATOR: orchestrator.id, T.ARTIFACT_STORE: store})
"""


@pytest.mark.skipif(
    importlib.util.find_spec("kubernetes") is not None, reason="kubernetes is installed here"
)
def test_a_stack_whose_integration_is_missing_is_one_line(project: dict[str, str]) -> None:
    # `kitaru stack create` refuses this flavor here; ZenML's client registers it.
    (Path(project["root"]) / "register.py").write_text(textwrap.dedent(REGISTER_K8S))
    registered = python(project, "register.py")
    assert registered.returncode == 0, registered.stderr

    line = one_line(python(project, "script.py", "k8s"))
    assert line.startswith(
        "kitaru.errors.BackendError: Stack 'k8s' cannot run flow 'my_flow' here: it needs "
        "ZenML's kubernetes integration, whose packages are not installed. Install them with "
        "`pip install "
    ), line
    assert "kubernetes" in line.split("`pip install ")[1]
    assert line.endswith("(or `zenml integration install kubernetes`), or run on another stack.")

    caught = python(project, "caught.py", "k8s")
    assert caught.returncode == 0, caught.stderr
    assert caught.stdout.splitlines()[0] == "BackendError True"
    assert "No module named" not in caught.stdout


OWN_WORDS = """
from flows import own_words

try:
    own_words()
except Exception as exc:
    print(type(exc).__name__, str(exc))
"""


def test_a_flow_body_that_says_the_same_keeps_its_own_error(project: dict[str, str]) -> None:
    (Path(project["root"]) / "own.py").write_text(OWN_WORDS)
    ran = python(project, "own.py")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (
        "RuntimeError No container engine is available: the flow's own words"
    )


def test_any_other_failure_to_submit_is_kept_on_the_run(
    project: dict[str, str], tmp_path: Path
) -> None:
    # The subprocess orchestrator makes its run folder under a regular file: ZenML has
    # made the run, then fails to submit it.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    made = kitaru(
        project,
        "stack",
        "create",
        "nowhere",
        "--orchestrator",
        "kitaru_subprocess",
        "--option",
        f"workdir={blocker}/runs",
    )
    assert made.returncode == 0, made.stderr
    waits = "import sys\nfrom flows import my_flow\nmy_flow.run(1, stack=sys.argv[1]).wait()\n"
    (Path(project["root"]) / "wait.py").write_text(waits)
    ran = python(project, "wait.py", "nowhere")
    assert ran.returncode == 1 and "NotADirectoryError" in ran.stderr, ran.stderr

    runs = json.loads(kitaru(project, "executions", "list", "-o", "json").stdout)
    assert [r["status"] for r in runs] == ["failed"]
    shown = kitaru(project, "executions", "show", runs[0]["id"], "-o", "json")
    assert json.loads(shown.stdout)["error"] == (
        f"NotADirectoryError: [Errno 20] Not a directory: '{blocker}/runs'"
    )
