"""Commands that need no ZenML import on an existing embedded store.

``kitaru stack list/current/show`` read ZenML's tables with read-only SQL and
give the same answer as ZenML's client; any schema or configuration kitaru has
not verified goes through ZenML's client instead. ``model list/show``,
``status``, ``secrets rename`` and ``secrets set --remove-key`` need no ZenML
either (the last two through the direct secret backend).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON

import kitaru
from kitaru._config import store_access
from kitaru._zenml import stack_reads, stacks

PROBE = """
import json, sys
from kitaru.cli import cli
out = {}
for args in json.loads(sys.argv[1]):
    try:
        cli(args, standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
print("ZENML", "zenml" in sys.modules)
"""


def _zenml_answer(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ZenML's client says (the fast path switched off for this call)."""
    with monkeypatch.context() as m:
        m.setattr(stacks, "read_stacks", lambda: None)
        return stacks.list_stacks()


@pytest.fixture(scope="module")
def made_stack() -> Iterator[str]:
    name = f"reads-{uuid.uuid4().hex[:6]}"
    stacks.create_stack(
        name,
        "local_docker",
        options={"run_args": '{"network_mode": "host"}'},
        image="agents:1",
    )
    yield name


def test_read_commands_import_no_zenml_and_agree_with_zenml(
    made_stack: str, monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    kitaru.set_secret(f"reads-{unique}", {"K": "v"})
    kitaru.register_model(f"reads_{unique}", "openai/gpt-4o-mini", secret=f"reads-{unique}")
    commands = [
        ["stack", "list", "--json"],
        ["stack", "current", "--json"],
        ["stack", "show", made_stack, "--json"],
        ["stack", "list"],
        ["model", "list", "--json"],
        ["model", "show", f"reads_{unique}", "--json"],
        ["status", "--json"],
    ]
    out = subprocess.run(
        [PYTHON, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ZENML False")
    decoder = json.JSONDecoder()
    text, pos, docs = out.stdout, 0, []
    while len(docs) < 3:
        pos = text.index("[" if not docs else "{", pos)
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    listed, current, shown = docs

    assert listed == _zenml_answer(monkeypatch)
    assert current["name"] == "default" and current["active"] and current["source"] == "active"
    assert shown["name"] == made_stack and shown["image"] == "agents:1"
    assert shown["orchestrator"] == "local_docker"
    orch = shown["components"]["orchestrator"][0]
    assert orch["config"] == {"run_args": {"network_mode": "host"}}
    assert f"reads_{unique}" in out.stdout and "direct-sqlite" in out.stdout


def test_the_active_stack_and_kitaru_stack_are_followed(made_stack: str) -> None:
    def current(**env: str) -> dict[str, Any]:
        out = subprocess.run(
            [PYTHON, "-m", "kitaru", "stack", "current", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
        assert out.returncode == 0, out.stderr
        return dict(json.loads(out.stdout))

    assert current(KITARU_STACK=made_stack)["source"] == "env:KITARU_STACK"
    stacks.use_stack(made_stack)
    try:
        seen = current()
        assert seen["name"] == made_stack and seen["active"]
        assert stack_reads.read_stacks() is not None
    finally:
        stacks.use_stack("default")
    assert current()["name"] == "default"
    unknown = subprocess.run(
        [PYTHON, "-m", "kitaru", "stack", "show", "no-such-stack"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2 and "Unknown stack 'no-such-stack'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_what_kitaru_has_not_verified_goes_through_zenml(
    made_stack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = _zenml_answer(monkeypatch)
    assert stack_reads.read_stacks() is not None

    with monkeypatch.context() as m:
        m.setattr(store_access, "SCHEMA_VERSION", "0.0.0-not-this-store")
        assert stack_reads.read_stacks() is None
        assert stacks.list_stacks() == expected  # through ZenML's client
        assert "zenml" in sys.modules

    with monkeypatch.context() as m:  # an active stack ID the store does not have
        m.setenv("ZENML_ACTIVE_STACK_ID", str(uuid.uuid4()))
        assert stack_reads.read_stacks() is None

    with monkeypatch.context() as m:  # a ZenML repository could choose another stack
        (tmp_path / ".zen").mkdir()
        m.chdir(tmp_path)
        assert stack_reads.read_stacks() is None


def test_secret_rename_and_remove_key_import_no_zenml(unique: str) -> None:
    name = f"edit-{unique}"
    kitaru.set_secret(name, {"A": "1", "B": "2"})
    commands = [
        ["secrets", "set", name, "--remove-key", "A"],
        ["secrets", "rename", name, f"{name}-new"],
    ]
    out = subprocess.run(
        [PYTHON, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ZENML False")
    renamed = kitaru.get_secret(f"{name}-new")
    assert renamed.values == {"B": "2"}
    with pytest.raises(kitaru.SecretNotFoundError):
        kitaru.get_secret(name)
