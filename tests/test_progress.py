"""Progress on stderr: live on a terminal, one line per checkpoint otherwise, or nothing.

Each case runs a user's script in a subprocess (a terminal is given with
``script``, which runs the command on a pseudo-terminal), on the session store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON

SCRIPT = """
import os
import sys

import kitaru

kitaru.register_model("progress-llm", "openai/progress-test", api_base=sys.argv[1])
os.environ["OPENAI_API_KEY"] = "sk-progress-not-a-secret"


@kitaru.checkpoint(retries=1, retry_delay=0)
def flaky_fetch(flag: str) -> int:
    if os.path.exists(flag):
        os.remove(flag)
        raise RuntimeError("transient")
    return 1


@kitaru.checkpoint
def summarize(n: int) -> str:
    return kitaru.llm(f"summarize {n}", model="progress-llm")


@kitaru.flow
def progress_job(flag: str) -> str:
    return summarize(flaky_fetch(flag))


if __name__ == "__main__":
    quiet = len(sys.argv) > 3 and sys.argv[3] == "quiet"
    open(sys.argv[2], "w").close()
    handle = progress_job.run(sys.argv[2], progress=False if quiet else None)
    print("RESULT", handle.wait())
"""


def _run(tmp_path: Path, openai_server: Any, *extra: str, tty: bool = False,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    script = tmp_path / "progress_job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    args = [PYTHON, str(script), openai_server.base_url, str(tmp_path / "flag"), *extra]
    full_env = {**os.environ, **(env or {})}
    if tty:
        assert shutil.which("script"), "util-linux `script` is needed to give a terminal"
        cmd = " ".join(f"'{a}'" for a in args)
        args = ["script", "-qec", cmd, "/dev/null"]
    return subprocess.run(
        args, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=600
    )


def test_without_a_terminal_each_checkpoint_is_one_line(tmp_path: Path, openai_server: Any) -> None:
    out = _run(tmp_path, openai_server)
    assert out.returncode == 0, out.stderr
    assert "RESULT echo: summarize 1" in out.stdout
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("kitaru: ")]
    checkpoint_lines = [ln for ln in lines if ": checkpoint " in ln]
    assert len(checkpoint_lines) == 2, lines
    assert "checkpoint flaky_fetch completed in" in checkpoint_lines[0]
    assert "checkpoint summarize completed in" in checkpoint_lines[1]
    assert "llm progress-llm" in checkpoint_lines[1] and "tokens" in checkpoint_lines[1]
    assert lines[-1].startswith("kitaru: flow progress_job completed in")
    assert "\x1b[" not in out.stderr  # no colour codes off a terminal
    assert "sk-progress-not-a-secret" not in out.stderr


@pytest.mark.parametrize("how", ["env", "argument"])
def test_progress_can_be_switched_off(tmp_path: Path, openai_server: Any, how: str) -> None:
    if how == "env":
        out = _run(tmp_path, openai_server, env={"KITARU_PROGRESS": "0"})
    else:
        out = _run(tmp_path, openai_server, "quiet")
    assert out.returncode == 0, out.stderr
    assert "RESULT echo: summarize 1" in out.stdout
    assert "kitaru: " not in out.stderr and "checkpoint" not in out.stderr


def test_on_a_terminal_checkpoints_show_as_they_start_and_end(
    tmp_path: Path, openai_server: Any
) -> None:
    out = _run(tmp_path, openai_server, tty=True, env={"NO_COLOR": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout  # a terminal merges both streams
    assert "flow progress_job started on stack default" in text
    for line in ("> flaky_fetch", "> flaky_fetch (retry 1)", "✓ flaky_fetch",
                 "> summarize", "✓ summarize", "llm progress-llm"):  # fmt: skip
        assert line in text, text
    assert text.index("> summarize") > text.index("✓ flaky_fetch")
    assert "\x1b[3" not in text  # NO_COLOR: no colours


def test_the_first_command_on_a_new_store_says_it_is_creating_it(tmp_path: Path) -> None:
    kitaru_bin = str(Path(PYTHON).parent / "kitaru")
    env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / "cfg")}
    first = subprocess.run(["script", "-qec", f"'{kitaru_bin}' secrets list", "/dev/null"],
                           env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stdout
    assert "kitaru: creating the local store in" in first.stdout  # (a spinner; the path wraps)
    second = subprocess.run(["script", "-qec", f"'{kitaru_bin}' secrets list", "/dev/null"],
                            env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert "creating the local store" not in second.stdout
    # Off a terminal nothing is added to the command's output.
    env2 = {**env, "KITARU_CONFIG_PATH": str(tmp_path / "cfg2")}
    third = subprocess.run(
        [kitaru_bin, "secrets", "list"], env=env2, capture_output=True, text=True, timeout=600
    )
    assert third.returncode == 0 and "creating" not in third.stdout + third.stderr


def test_init_and_the_first_secrets_set_say_they_create_the_local_store(tmp_path: Path) -> None:
    kitaru_bin = str(Path(PYTHON).parent / "kitaru")

    def run(cfg: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KITARU_CONFIG_PATH": str(tmp_path / cfg)}
        return subprocess.run(
            [kitaru_bin, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )

    first = run("a", "secrets", "set", "first-one", "--TOKEN=not-a-real-value")
    assert first.returncode == 0, first.stderr
    assert (
        first.stderr.strip()
        == f"kitaru: creating the local store in {tmp_path / 'a'} (first use) ..."
    )
    second = run("a", "secrets", "set", "second-one", "--TOKEN=not-a-real-value")
    assert second.returncode == 0 and second.stderr == ""
    init = run("b", "init")
    assert init.returncode == 0, init.stderr
    assert f"Creating the local store in {tmp_path / 'b'}" in init.stdout
    assert "Creating the local store" not in run("b", "init").stdout
