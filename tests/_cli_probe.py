"""kitaru CLI commands run in one fresh interpreter, and the heavy modules they loaded.

Tests of the fast read paths ask what a command printed and whether it imported
zenml or litellm. ``prelude`` runs before the CLI is imported: a test switches a
fast path off there to get ZenML's own answer to compare with.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conftest import PYTHON

_SCRIPT = """
import json, sys
{prelude}
from kitaru.cli import cli
for args in json.loads(sys.argv[1]):
    try:
        cli(args, standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
    print("\\x1e")
print(json.dumps(sorted(m for m in ("zenml", "litellm") if m in sys.modules)))
"""


@dataclass(frozen=True)
class Probed:
    outputs: list[str]  # one per command, in order
    loaded: list[str]  # of zenml and litellm, those the commands imported
    stdout: str  # everything printed


def probe(
    commands: list[list[str]],
    *,
    prelude: str = "",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> Probed:
    """Run ``commands`` (CLI argument lists) one after another in a fresh interpreter."""
    out = subprocess.run(
        [PYTHON, "-c", _SCRIPT.format(prelude=prelude), json.dumps(commands)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    *outputs, last = out.stdout.split("\x1e\n")
    return Probed(outputs, json.loads(last), out.stdout)
