"""What a checkpoint prints or logs on an orchestrator reaches that process's log redacted.

The flow runs on ``kitaru_subprocess``, whose flow process writes its stdout and
stderr to ``process.log`` in the run folder, as a pod's log would be kept. The
checkpoint prints the secret's value whole and in two writes, logs it, and logs
an exception quoting it; none of that may be in any file of the run folder or the
store, while the lines themselves are there with ``[REDACTED]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from conftest import files_containing, run_cli

FLOWS = """
import json
import logging
import sys

import kitaru

log = logging.getLogger("user.code")


@kitaru.checkpoint
def chatty(secret: str) -> int:
    token = kitaru.get_secret(secret)["TOKEN"]
    print("printed:", token)
    sys.stdout.write("split: " + token[:9])
    sys.stdout.write(token[9:] + "\\n")
    sys.stderr.write("stderr: " + token + "\\n")
    log.warning("logged: %s", token)
    try:
        raise ValueError("quoted " + token)
    except ValueError:
        log.exception("caught")
    return len(token)


@kitaru.flow
def noisy(secret: str) -> int:
    return chatty(secret)


if __name__ == "__main__":
    handle = noisy.run(sys.argv[1], stack=sys.argv[2])
    print("RESULT " + json.dumps({"result": handle.wait(timeout=600)}))
"""


def test_checkpoint_output_reaches_the_orchestrator_log_redacted(tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    config = tmp_path / "kitaru-config"
    env = {**os.environ, "KITARU_CONFIG_PATH": str(config)}
    env.pop("KITARU_SOURCE_ROOT", None)
    secret, stack = f"noisy-{uuid.uuid4().hex[:8]}", f"noisy-{uuid.uuid4().hex[:8]}"
    assert run_cli("secrets", "set", secret, f"--TOKEN={canary}", env=env).returncode == 0
    runs = tmp_path / "runs"
    created = run_cli(
        "stack", "create", stack, "--orchestrator", "kitaru_subprocess",
        "--option", f"python={sys.executable}", "--option", "isolate=false",
        "--option", f"workdir={runs}", env=env, timeout=300,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "noisy_flows.py").write_text(textwrap.dedent(FLOWS))

    proc = subprocess.run(
        [sys.executable, "noisy_flows.py", secret, stack],
        cwd=proj, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    assert json.loads(line[len("RESULT ") :]) == {"result": len(canary)}
    assert canary not in proc.stdout + proc.stderr

    logs = list(runs.rglob("process.log"))
    assert logs, "the flow process wrote no log"
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    for shown in ("printed: [REDACTED]", "split: [REDACTED]", "stderr: [REDACTED]",
                  "logged: [REDACTED]"):  # fmt: skip
        assert shown in text, shown
    for root in (runs, config):
        files, hits = files_containing(root, [canary])
        assert files > 0 and hits == [], hits
