"""ZenML's import and a run leave the user's process state alone.

Importing ZenML wraps ``write`` of ``sys.stdout``/``sys.stderr``, turns on
``logging.captureWarnings``, sets ``TF_CPP_MIN_LOG_LEVEL`` and changes the root
logger and warnings filters; a run's imports may add an excepthook. kitaru does
both inside the one guard ``process_state_kept()``. (A real flow's effect on the
excepthook, root logger and warnings filters is covered by
tests/test_process_hygiene.py.)
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from conftest import PYTHON, REPO

from kitaru._zenml.process_state import process_state_kept


def test_the_context_manager_undoes_each_change(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    showwarning = warnings.showwarning
    with process_state_kept():
        # What zenml.logger.init_logging() does.
        out.write = lambda text: 0  # type: ignore[method-assign]
        err.write = lambda text: 0  # type: ignore[method-assign]
        logging.captureWarnings(True)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    assert "write" not in vars(out) and "write" not in vars(err)
    assert warnings.showwarning is showwarning
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    out.write("still mine")
    assert out.getvalue() == "still mine"


def test_the_excepthook_root_logger_and_filters_are_put_back() -> None:
    hook, root = sys.excepthook, logging.getLogger()
    level, handlers, filters = root.level, list(root.handlers), list(warnings.filters)
    with process_state_kept():
        sys.excepthook = lambda *args: None
        root.addHandler(logging.NullHandler())
        root.setLevel(logging.DEBUG if level != logging.DEBUG else logging.INFO)
        warnings.simplefilter("ignore")
    assert sys.excepthook is hook
    assert (root.level, root.handlers, warnings.filters) == (level, handlers, filters)


def test_a_value_the_user_had_is_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    with process_state_kept():
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


SCRIPT = textwrap.dedent(
    """
    import json, os, sys, warnings
    import kitaru

    @kitaru.checkpoint
    def boom() -> int:
        raise ValueError("bad thing")

    @kitaru.flow
    def failing() -> int:
        return boom()

    def state():
        return {
            "stdout_write": "write" in vars(sys.stdout),
            "stderr_write": "write" in vars(sys.stderr),
            "showwarning": f"{warnings.showwarning.__module__}.{warnings.showwarning.__name__}",
            "tf": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
        }

    before = state()
    status = failing.run().status
    after = state()
    warnings.warn("user warning after a flow")
    with open(sys.argv[1], "w") as fh:
        json.dump({"before": before, "after": after, "status": status}, fh)
    """
)


def test_after_a_real_flow_streams_and_warnings_are_the_users(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KITARU_PROGRESS="0", PYTHONPATH=str(REPO), NO_COLOR="1")
    proc = subprocess.run(
        [PYTHON, str(script), str(tmp_path / "out.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["status"] == "failed"
    assert (
        out["after"]
        == out["before"]
        == {
            "stdout_write": False,
            "stderr_write": False,
            "showwarning": "warnings.showwarning",
            "tf": None,
        }
    )
    # The user's warning is shown the standard way (not routed into logging).
    assert "UserWarning: user warning after a flow" in proc.stderr
    assert proc.stdout == ""
