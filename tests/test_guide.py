"""The secrets guide (the user contract) run as written.

The Python example is taken from the guide at test time and run verbatim as a
script; the CLI commands are taken from the guide too, checked against the list
below (so a change to the guide shows up here), and run through the real
`kitaru` console script. Each test uses a brand-new config directory because
the guide's fixed names (`openai-creds`, `github-creds`) would otherwise clash.

The guide's `call_external_service` checkpoint example needs flows and is
tested with them, not here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

# Import conftest under the name pytest gave it: importing it as
# `tests.conftest` would run it twice and switch the session's config dir.
from conftest import REPO, run_cli

GUIDE = Path(os.environ.get("KITARU_SECRETS_GUIDE", REPO / "docs" / "secrets-guide.md"))

GUIDE_CLI_COMMANDS = [
    "kitaru secrets set openai-creds --OPENAI_API_KEY=sk-...",
    "kitaru secrets set openai-creds --private --OPENAI_API_KEY=sk-...",
    "kitaru secrets show openai-creds",
    "kitaru secrets show openai-creds --show-values",
    "kitaru secrets list",
    "kitaru secrets delete openai-creds",
]

RESULT_MARKER = "GUIDE-CHECK "

# Appended after the guide's code (which stays byte-for-byte as written) to
# report what it did. It prints no values, only comparisons.
CHECKS = """

# --- appended by tests/test_guide.py; not part of the guide ---
import json as _json

import kitaru as _kitaru

print(
    "GUIDE-CHECK "
    + _json.dumps(
        {
            "main": __name__ == "__main__",
            "created": [created.name, created.private, list(created.keys)],
            "created_type": type(created).__name__,
            "private_created": [
                private_created.name,
                private_created.private,
                list(private_created.keys),
            ],
            "secret": [type(secret).__name__, secret.name, secret.id == created.id],
            "token_ok": token == "ghp_...",
            "deleted": [type(deleted).__name__, deleted.id == created.id, deleted.name],
            "listed": sorted([s.name, s.private] for s in _kitaru.list_secrets()),
            "openai_value_ok": _kitaru.get_secret("openai-creds").get("OPENAI_API_KEY")
            == "sk-...",
        }
    )
)
"""


def _guide_text() -> str:
    assert GUIDE.is_file(), f"secrets guide not found at {GUIDE} (set KITARU_SECRETS_GUIDE)"
    return GUIDE.read_text(encoding="utf-8")


def _python_example() -> str:
    text = _guide_text()
    section = text.split("## Use secrets from Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "expected one python block under 'Use secrets from Python'"
    return blocks[0]


def _cli_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", _guide_text(), flags=re.DOTALL)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip()]


def _env(config: Path) -> dict[str, str]:
    return {"KITARU_CONFIG_PATH": str(config)}


def test_python_example_runs_verbatim(fresh_config: Path, tmp_path: Path) -> None:
    example = _python_example()
    assert 'create_secret(\n    "github-creds"' in example  # the right block was found
    script = tmp_path / "guide_example.py"
    script.write_text(example + CHECKS, encoding="utf-8")
    env = dict(os.environ, **_env(fresh_config))
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "False"  # print(created.private)
    assert lines[-1].startswith(RESULT_MARKER) and len(lines) == 2
    result = json.loads(lines[-1][len(RESULT_MARKER) :])
    assert result == {
        "main": True,
        "created": ["github-creds", False, ["GITHUB_TOKEN"]],
        "created_type": "SecretSummary",
        "private_created": ["openai-creds", True, ["OPENAI_API_KEY"]],
        "secret": ["Secret", "github-creds", True],
        "token_ok": True,
        "deleted": ["SecretSummary", True, "github-creds"],
        "listed": [["openai-creds", True]],
        "openai_value_ok": True,
    }
    for value in ("ghp_...", "sk-..."):
        assert value not in proc.stdout and value not in proc.stderr


def test_cli_commands_as_written(fresh_config: Path) -> None:
    commands = _cli_commands()
    assert commands == GUIDE_CLI_COMMANDS
    env = _env(fresh_config)
    out: list[str] = []
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "kitaru"
        proc = run_cli(*argv[1:], env=env)
        assert proc.returncode == 0, f"{command}: {proc.stderr}"
        assert "Traceback" not in proc.stderr
        if "--show-values" not in argv:
            assert "sk-" not in proc.stdout and "sk-" not in proc.stderr, command
        out.append(proc.stdout)
    created, kept_public, show, show_values, listing, deleted = out

    # set: creates a public secret, prints key names only.
    match = re.fullmatch(
        r"Created public secret 'openai-creds' \(([0-9a-f-]{36})\): OPENAI_API_KEY\n", created
    )
    assert match, created
    secret_id = match.group(1)

    # set --private on the existing public secret: updates it, stays public, one note.
    lines = kept_public.splitlines()
    assert lines[0] == f"Updated public secret 'openai-creds' ({secret_id}): OPENAI_API_KEY"
    assert len(lines) == 2, kept_public
    assert lines[1].startswith("Note:") and "--private" in lines[1], kept_public

    # show: metadata and key names; --show-values adds the value.
    for text in (show, show_values):
        assert "Name:       openai-creds\n" in text, text
        assert f"ID:         {secret_id}\n" in text, text
        assert "Visibility: public\n" in text, text
    assert show.endswith("Keys:\n  OPENAI_API_KEY\n"), show
    assert show_values.endswith("Keys:\n  OPENAI_API_KEY: sk-...\n"), show_values

    # list: exactly one openai-creds, public, with its key.
    rows = [line for line in listing.splitlines() if "openai-creds" in line]
    assert len(rows) == 1, listing
    assert secret_id in rows[0] and "public" in rows[0] and "OPENAI_API_KEY" in rows[0]

    # delete, and it is gone.
    assert deleted == f"Deleted public secret 'openai-creds' ({secret_id}).\n"
    gone = run_cli("secrets", "show", "openai-creds", env=env)
    assert (gone.returncode, gone.stdout) == (1, ""), gone.stderr
    assert gone.stderr.startswith("Error: Secret 'openai-creds' not found"), gone.stderr
    assert len(gone.stderr.splitlines()) == 1, gone.stderr
