"""``user_process_state``: ZenML does not take over the user's process or terminal.

Each test runs a script in a fresh Python process (ZenML not yet imported, as
for a user's first flow), with stdout and stderr redirected (not terminals) or
stderr on a pseudo-terminal, and checks what the user would see and what state
the process is left in.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import textwrap
from pathlib import Path

from conftest import PYTHON, REPO

STATE_SCRIPT = textwrap.dedent(
    """
    import io, json, logging, os, sys, warnings
    from kitaru._zenml.process_state import user_process_state

    def my_hook(*exc):
        sys.__stderr__.write("my hook\\n")

    user_log = io.StringIO()
    sys.excepthook = my_hook
    logging.getLogger().addHandler(logging.StreamHandler(user_log))
    logging.getLogger().setLevel(logging.WARNING)
    warnings.simplefilter("error", ResourceWarning)

    def state():
        return {
            "excepthook": sys.excepthook is my_hook,
            "handlers": [type(h).__name__ for h in logging.getLogger().handlers],
            "level": logging.getLogger().level,
            "filters": repr(warnings.filters),
            "showwarning": warnings.showwarning.__module__,
            "stdout": sys.stdout is sys.__stdout__,
            "stdout_write": "write" in vars(sys.stdout),
            "stderr_write": "write" in vars(sys.stderr),
            "tf": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
        }

    before = state()
    results = []
    for attempt in (1, 2):
        with user_process_state():
            # What a pipeline run does: ZenML logs at ERROR from its modules.
            logging.getLogger("zenml.orchestrators.step_launcher").error(
                "Failed to run step `%s`: %s", "boom", f"bad thing {attempt}"
            )
            inside_write = "write" in vars(sys.stdout)
        results.append({"after": state(), "inside_write": inside_write})
    print("user output on stdout")
    with open(sys.argv[1], "w") as fh:
        json.dump({"before": before, "results": results}, fh)
    """
)


def _run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.py"
    path.write_text(script, encoding="utf-8")
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "KITARU_DEBUG")}
    full_env.update(env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [PYTHON, str(path), str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def test_state_is_restored_and_zenml_lines_go_to_stderr_plain(tmp_path: Path) -> None:
    proc = _run(STATE_SCRIPT, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    before = out["before"]
    assert before["excepthook"] and before["handlers"] == ["StreamHandler"]
    for result in out["results"]:
        # Importing ZenML (first time) and running (both times) changed nothing that lasts.
        assert result["after"] == before
        # Inside, ZenML still captures step output (also on the second run).
        assert result["inside_write"] is True
    # ZenML's lines: on stderr, without colour (stderr is a pipe), never on stdout.
    assert proc.stdout == "user output on stdout\n"
    assert "Failed to run step `boom`: bad thing 1" in proc.stderr
    assert "Failed to run step `boom`: bad thing 2" in proc.stderr
    assert "\x1b[" not in proc.stderr


def _stderr_on_terminal(tmp_path: Path, **env: str) -> str:
    script = textwrap.dedent(
        """
        import logging, sys
        from kitaru._zenml.process_state import user_process_state
        with user_process_state():
            logging.getLogger("zenml.x").error("Failed to run step `s`: oops")
        """
    )
    path = tmp_path / "tty.py"
    path.write_text(script, encoding="utf-8")
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full_env.update(env, PYTHONPATH=str(REPO))
    master, slave = pty.openpty()
    proc = subprocess.Popen([PYTHON, str(path)], stdout=subprocess.PIPE, stderr=slave, env=full_env)
    os.close(slave)
    stdout, _ = proc.communicate(timeout=300)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    assert stdout == b""
    return seen.decode(errors="replace")


def test_colour_only_on_a_terminal_without_no_color(tmp_path: Path) -> None:
    coloured = _stderr_on_terminal(tmp_path)
    assert "oops" in coloured and "\x1b[" in coloured
    plain = _stderr_on_terminal(tmp_path, NO_COLOR="1")
    assert "oops" in plain and "\x1b[" not in plain


FLOW_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    import kitaru
    from kitaru._zenml.process_state import user_process_state

    @kitaru.checkpoint
    def boom() -> int:
        raise ValueError("bad thing")

    @kitaru.flow
    def failing() -> int:
        return boom()

    hook, handlers = sys.excepthook, list(logging.getLogger().handlers)
    with user_process_state():
        handle = failing.run()
    json.dump(
        {
            "status": handle.status,
            "hook_kept": sys.excepthook is hook,
            "handlers_kept": logging.getLogger().handlers == handlers,
            "stdout_write_kept": "write" not in vars(sys.stdout),
        },
        open(sys.argv[1], "w"),
    )
    """
)


def test_a_failed_flow_run_inside_prints_nothing_on_stdout(
    tmp_path: Path, fresh_config: Path
) -> None:
    proc = _run(FLOW_SCRIPT, tmp_path, NO_COLOR="1", KITARU_CONFIG_PATH=str(fresh_config))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out == {
        "status": "failed",
        "hook_kept": True,
        "handlers_kept": True,
        "stdout_write_kept": True,
    }
    assert proc.stdout == ""
    assert "\x1b[" not in proc.stderr
