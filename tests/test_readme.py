"""The README runs as written: its shell and Python blocks, in order, offline.

Every ```bash and ```python block of README.md is taken in order and run in
one bash process (so a background job or a shell variable carries over from
one block to the next, as in a reader's terminal), in a temporary directory
with a brand-new KITARU_CONFIG_PATH. A Python block whose first line is a
comment naming a file (``# research.py``) is saved under that name, as the
README tells the reader to; any other Python block is run with ``python``.

A block right after an HTML comment ``<!-- readme-test: skip (reason) -->`` is
left out of this test only (installing, a real provider, a ZenML server). The
README's local LLM server port (8765) is replaced by a free port, so parallel
runs cannot collide; nothing else is changed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conftest import PYTHON, REPO

README = REPO / "README.md"
README_PORT = "8765"
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
FENCE = re.compile(r"^```(?P<lang>[A-Za-z]*)\s*$")
SAVED_AS = re.compile(r"#\s*(?P<name>[\w.-]+\.py)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    lang: str
    code: str
    line: int  # line number of the opening fence
    skip: str | None  # the skip marker's reason, if the block is marked


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` with its language, position and skip marker."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = SKIP_MARKER.search(before)
        blocks.append(
            Block(
                lang=opening["lang"],
                code="\n".join(body) + "\n",
                line=start + 1,
                skip=marker["reason"] if marker else None,
            )
        )
        i += 1
    return blocks


def script_for(blocks: list[Block]) -> str:
    """One bash script running the runnable shell and Python blocks in order."""
    parts = [
        "set -eo pipefail",
        # Stop whatever the README left running in the background (the LLM server).
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
    ]
    for n, block in enumerate(blocks):
        if block.skip is not None or block.lang not in ("bash", "python"):
            continue
        parts.append(f"echo '### README block {n} (line {block.line})' >&2")
        if block.lang == "bash":
            parts.append(block.code)
            continue
        first = block.code.splitlines()[0] if block.code.strip() else ""
        saved = SAVED_AS.fullmatch(first.strip())
        target = f"> {saved['name']}" if saved else "| python -"
        parts.append(f"cat <<'KITARU_README_EOF' {target}\n{block.code}KITARU_README_EOF")
    # Every block must leave the Quick start working: its script runs once more.
    parts.append("echo '### research.py again' >&2")
    parts.append("if [ -f research.py ]; then python research.py; fi")
    return "\n".join(parts) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_blocks_are_found_with_their_markers() -> None:
    text = (
        "intro\n\n<!-- readme-test: skip (real provider) -->\n```bash\nkitaru x\n```\n\n"
        "```python\n# demo.py\nprint(1)\n```\n\n```python\nprint(2)\n```\n"
    )
    blocks = readme_blocks(text)
    assert [(b.lang, b.skip) for b in blocks] == [
        ("bash", "real provider"),
        ("python", None),
        ("python", None),
    ]
    script = script_for(blocks)
    assert "kitaru x" not in script
    assert "> demo.py" in script and "| python -" in script and "print(2)" in script


def test_every_runnable_block_is_shell_or_python() -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    runnable = [b for b in blocks if b.skip is None]
    # A block in another language would silently not run: say what it is.
    assert all(b.lang in ("bash", "python") for b in runnable), [
        (b.line, b.lang) for b in runnable if b.lang not in ("bash", "python")
    ]
    # The Quick start, secrets, models and replay sections all run.
    assert len(runnable) >= 6, [(b.line, b.lang) for b in runnable]
    assert any("python -m kitaru.testing.openai_server" in b.code for b in runnable)


def test_readme_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    assert f"--port {README_PORT}" in text
    text = text.replace(README_PORT, str(_free_port()))
    script = script_for(readme_blocks(text))
    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ANTHROPIC_", "KITARU_")) and k != "GITHUB_TOKEN"
    }
    env["KITARU_CONFIG_PATH"] = str(tmp_path / "kitaru-config")
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    last_block = [ln for ln in proc.stderr.splitlines() if ln.startswith("### README block")]
    assert proc.returncode == 0, (
        f"README failed in {last_block[-1:] or 'setup'} (rc {proc.returncode}):\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    # The Quick start's flow ran against the local server and completed, and still
    # does after every other block ran (the last line is its second run).
    assert proc.stdout.count("echo: Summarize durable agents") >= 2
    assert proc.stdout.strip().splitlines()[-1].endswith("echo: Summarize durable agents")
    assert "completed" in proc.stdout
    assert (work / "research.py").is_file()
    # The example credentials never show up in the output.
    for value in ("ghp-example-token", "sk-local-example"):
        assert value not in proc.stdout + proc.stderr
