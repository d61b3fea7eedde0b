"""Keys that change how a process starts: refused by `secrets run`, stored only with force.

A secret is data other users may edit (public secrets in team mode); `secrets run`
must not let it set PATH, LD_PRELOAD, PYTHONPATH, ... for the command it starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import PYTHON, run_cli

import kitaru
from kitaru.errors import InvalidSecretError, SecretNotFoundError


@pytest.mark.parametrize(
    "key",
    [
        "PATH",
        "LD_PRELOAD",
        "DYLD_INSERT_LIBRARIES",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "IFS",
        "KITARU_CONFIG_PATH",
        "ZENML_STORE_URL",
    ],
)
def test_sdk_refuses_start_changing_key_without_force(unique: str, canary: str, key: str) -> None:
    name = f"start-{unique}"
    with pytest.raises(InvalidSecretError) as err:
        kitaru.set_secret(name, {key: canary})
    assert key in str(err.value) and "force" in str(err.value)
    assert canary not in str(err.value)
    with pytest.raises(InvalidSecretError):
        kitaru.create_secret(name, {key: canary})
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)


def test_sdk_stores_it_with_force_and_warns(unique: str, canary: str) -> None:
    name = f"start-force-{unique}"
    with pytest.warns(UserWarning, match="LD_PRELOAD") as warned:
        kitaru.set_secret(name, {"LD_PRELOAD": canary, "TOKEN": canary}, force=True)
    assert all(canary not in str(w.message) for w in warned)
    assert kitaru.get_secret(name).get("LD_PRELOAD") == canary
    with pytest.raises(InvalidSecretError):
        kitaru.set_secret(name, {"OK": "value"}, force="yes")  # type: ignore[arg-type]


def test_ordinary_keys_need_no_force(unique: str) -> None:
    for key in ("OPENAI_API_KEY", "MY_PATH_HINT", "ENVIRONMENT", "PATHS", "LD"):
        kitaru.set_secret(f"plain-{unique}", {key: "value-1234"})


def test_cli_set_needs_force_and_warns(unique: str, canary: str) -> None:
    name = f"start-cli-{unique}"
    refused = run_cli("secrets", "set", name, f"--PYTHONPATH={canary}")
    assert refused.returncode == 2
    assert refused.stdout == "" and len(refused.stderr.splitlines()) == 1
    assert "PYTHONPATH" in refused.stderr and "--force" in refused.stderr
    assert canary not in refused.stderr
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)
    done = run_cli("secrets", "set", name, "--force", f"--PYTHONPATH={canary}")
    assert done.returncode == 0, done.stderr
    assert "Warning:" in done.stderr and "PYTHONPATH" in done.stderr
    assert canary not in done.stdout + done.stderr


def test_secrets_run_refuses_override_unless_allowed(
    unique: str, canary: str, tmp_path: Path
) -> None:
    name = f"start-run-{unique}"
    planted = tmp_path / "bin"
    planted.mkdir()
    with pytest.warns(UserWarning, match="PATH"):
        kitaru.set_secret(name, {"PATH": str(planted), "TOKEN": canary}, force=True)
    marker = tmp_path / "ran"
    script = f"open({str(marker)!r}, 'w').write('x')"

    refused = run_cli("secrets", "run", name, "--", PYTHON, "-c", script)
    assert refused.returncode == 2
    assert len(refused.stderr.splitlines()) == 1 and "PATH" in refused.stderr
    assert "--allow-override PATH" in refused.stderr
    assert not marker.exists()

    printed = "import os; print(os.environ['PATH']); print(os.environ['KITARU_SECRET_KEYS'])"
    for args in (
        ("--allow-override", "PATH", name),
        (name, "--allow-override", "PATH"),
        (name, "--allow-override=PATH"),
    ):
        proc = run_cli("secrets", "run", *args, "--", PYTHON, "-c", printed)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [str(planted), "PATH,TOKEN"]


def test_a_kitaru_process_under_secrets_run_guards_the_injected_values(
    unique: str, canary: str
) -> None:
    name = f"start-guard-{unique}"
    kitaru.set_secret(name, {"SERVICE_TOKEN": canary})
    script = (
        "import os, kitaru.runtime as r; "
        "v = os.environ['SERVICE_TOKEN']; "
        "print(r.process_redactor().redact('token=' + v)); "
        "m = r.find_resolved_value({'x': v}); print(m.key)"
    )
    env = {k: v for k, v in os.environ.items() if k != "KITARU_SECRET_KEYS"}
    proc = run_cli("secrets", "run", name, "--", PYTHON, "-c", script, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["token=[REDACTED]", "SERVICE_TOKEN"]
