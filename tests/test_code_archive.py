"""Credential files of a project never go into ZenML's code archive.

A flow runs on the fresh-process orchestrator, which makes ZenML upload the
project's code to the artifact store; every archive found there is unpacked
(gunzip + untar) and its file names and contents are scanned for the canary.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import uuid
from pathlib import Path

from conftest import run_cli

from kitaru._zenml.code_archive import is_excluded

FLOW = """
import json
import sys

import kitaru


@kitaru.checkpoint
def one() -> int:
    return 1


@kitaru.flow
def shipped() -> int:
    return one()


if __name__ == "__main__":
    handle = shipped.run(stack=sys.argv[1])
    try:
        handle.wait(timeout=600)
    except kitaru.FlowFailedError:
        pass
    print("RESULT " + json.dumps({"status": handle.status}))
"""


def test_names_that_are_left_out() -> None:
    for name in (".env", ".env.local", "sub/.env.production", "secrets.key", "a/b/id.key",
                 ".netrc", "_netrc", ".pypirc", ".git-credentials"):  # fmt: skip
        assert is_excluded(name), name
    for name in ("env.py", "my.env.py", "keys.py", "key", "netrc.md", "flows.py", ".envrc.txt"):
        assert not is_excluded(name), name


def test_credential_files_are_not_in_the_uploaded_code_archive(tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    config = tmp_path / "kitaru-config"
    env = {**os.environ, "KITARU_CONFIG_PATH": str(config)}
    env.pop("KITARU_SOURCE_ROOT", None)
    proj = tmp_path / "proj"
    (proj / "nested").mkdir(parents=True)
    (proj / "ship_flow.py").write_text(textwrap.dedent(FLOW))
    credential_files = [".env", ".env.local", "deploy.key", ".netrc", "nested/.env"]
    for name in credential_files:
        (proj / name).write_text(f"OPENAI_API_KEY={canary}\n")
    stack = f"archive-{uuid.uuid4().hex[:8]}"
    created = run_cli(
        "stack", "create", stack, "--orchestrator", "kitaru_subprocess",
        "--option", f"python={sys.executable}", "--option", "isolate=false",
        "--option", f"workdir={tmp_path / 'runs'}", env=env, timeout=300,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    proc = subprocess.run(
        [sys.executable, "ship_flow.py", stack],
        cwd=proj, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RESULT" in proc.stdout

    archives = list(config.rglob("code_uploads/*.tar.gz"))
    assert archives, "no code archive was uploaded"
    for archive in archives:
        with tarfile.open(fileobj=io.BytesIO(archive.read_bytes()), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            names = set(members)
            assert "ship_flow.py" in names  # the code itself is shipped
            assert not any(is_excluded(n) for n in names), sorted(names)
            for name, member in members.items():
                extracted = tar.extractfile(member)
                assert extracted is not None
                assert canary.encode() not in extracted.read(), name
    assert json.loads(proc.stdout.split("RESULT ", 1)[1])["status"] in ("completed", "failed")
