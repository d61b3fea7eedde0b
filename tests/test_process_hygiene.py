"""A flow leaves the user's process as it found it, and a failure reads as user code."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

from conftest import PYTHON

SCRIPT = """
import json
import logging
import sys
import warnings

import kitaru


@kitaru.checkpoint
def explode(x: int) -> int:
    raise ValueError(f"bad item {x}")


@kitaru.checkpoint
def fine(x: int) -> int:
    return x


@kitaru.flow
def hygiene_flow(fail: bool) -> int:
    return explode(3) if fail else fine(3)


def state():
    root = logging.getLogger()
    return {
        "excepthook": repr(sys.excepthook),
        "root_level": root.level,
        "root_handlers": [type(h).__name__ for h in root.handlers],
        "warning_filters": len(warnings.filters),
        "stdout": repr(sys.stdout),
        "stderr": repr(sys.stderr),
    }


before = state()
hygiene_flow(False)
try:
    hygiene_flow(True)
except ValueError:
    pass
print("STATE " + json.dumps({"before": before, "after": state()}))
hygiene_flow(True)  # uncaught: the traceback the user sees
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "hygiene_job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    return subprocess.run(
        [PYTHON, str(script)],
        cwd=tmp_path,
        env={**os.environ, "KITARU_PROGRESS": "0", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_flow_leaves_hooks_logging_warnings_and_streams_as_they_were(tmp_path: Path) -> None:
    out = _run(tmp_path)
    assert out.returncode == 1, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("STATE ")]
    assert lines, out.stdout
    state = json.loads(lines[0][len("STATE ") :])
    assert state["after"] == state["before"]
    # Nothing of ZenML's on stdout (no "Failed to run step", no colour codes).
    assert out.stdout.strip().splitlines() == lines
    assert "\x1b[" not in out.stdout + out.stderr


def test_a_failed_flow_shows_the_users_traceback(tmp_path: Path) -> None:
    out = _run(tmp_path)
    tb = out.stderr
    assert tb.startswith("Traceback (most recent call last):"), tb
    assert "site-packages/zenml" not in tb
    assert tb.rstrip().endswith("ValueError: bad item 3")
    frames = [ln for ln in tb.splitlines() if ln.startswith('  File "')]
    assert frames[-1].endswith("in explode") and frames[-2].endswith("in hygiene_flow")
    assert len(frames) <= 6, tb

    debug = _run(tmp_path, KITARU_DEBUG="1")
    assert "site-packages/zenml" in debug.stderr  # every frame when debugging
