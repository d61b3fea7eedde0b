"""Output capture: each write costs its own length, the cap per call holds, the rest is counted."""

from __future__ import annotations

import json
import subprocess

from conftest import PYTHON

# One million one-character writes inside one checkpoint body's capture. Capture that
# re-measures what it kept on every write needs ~10^11 steps for this and never ends
# within the (generous, hang-guarding) timeout; capture that keeps a running size
# finishes in a few seconds.
SCRIPT = """
import json, sys
from kitaru.runtime import capture

kept = []
with capture.capturing():
    with capture.checkpoint_output(kept.append):
        write = sys.stdout.write
        for _ in range(1_000_000):
            write("x")
json.dump({"n": len(kept), "text": kept[0][-200:], "size": len(kept[0])}, sys.__stderr__)
"""


def test_a_million_small_writes_are_linear_and_capped() -> None:
    proc = subprocess.run([PYTHON, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stderr)
    assert out["n"] == 1
    assert len(proc.stdout) == 1_000_000  # everything was written through
    cap = 256 * 1024
    last = f"\n[kitaru: {1_000_000 - cap} more characters were not kept]\n"
    assert out["text"].endswith(last)
    assert out["size"] == cap + len(last)


def test_writes_under_the_cap_are_kept_whole() -> None:
    from kitaru.runtime import capture

    kept: list[str] = []
    with capture.capturing(), capture.checkpoint_output(kept.append):
        import sys

        sys.stdout.write("one ")
        sys.stdout.write("two\n")
    assert kept == ["one two\n"]
