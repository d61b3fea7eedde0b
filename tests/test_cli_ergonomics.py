"""The CLI's everyday ergonomics, through the real `kitaru` console script.

`secrets run/rename`, `set --remove-key`, `delete`'s confirmation, `model
register --force`, `model remove` of the default, `model show`'s credential
source, `-o json|yaml|tsv|table`, `version`/`-V` and `completion`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import yaml
from conftest import PYTHON, run_cli

import kitaru

KITARU = str(Path(PYTHON).parent / "kitaru")


def ok(proc: subprocess.CompletedProcess[str], *canaries: str) -> str:
    assert proc.returncode == 0, proc.stderr
    for c in canaries:
        assert c not in proc.stdout and c not in proc.stderr
    return proc.stdout


# --- secrets run ---------------------------------------------------------------------


def test_secrets_run_passes_keys_as_env_and_the_exit_code(unique: str, canary: str) -> None:
    a, b = f"run-a-{unique}", f"run-b-{unique}"
    kitaru.create_secret(a, {"TOKEN": canary, "SHARED": "from-a"})
    kitaru.create_secret(b, {"SHARED": "from-b"})
    script = (
        "import hashlib, os, sys; "
        "print(hashlib.sha256(os.environ['TOKEN'].encode()).hexdigest()); "
        "print(os.environ['SHARED'], os.environ['PATH'] != ''); sys.exit(7)"
    )
    proc = run_cli("secrets", "run", a, b, "--", PYTHON, "-c", script)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.split() == [hashlib.sha256(canary.encode()).hexdigest(), "from-b", "True"]
    assert canary not in proc.stdout + proc.stderr


def test_secrets_run_errors(unique: str, canary: str) -> None:
    name = f"run-err-{unique}"
    kitaru.create_secret(name, {"TOKEN": canary})
    missing = run_cli("secrets", "run", name, "--", f"no-such-command-{unique}")
    assert missing.returncode == 127 and "Command not found" in missing.stderr
    no_sep = run_cli("secrets", "run", name, "true")
    assert no_sep.returncode == 2 and "--" in no_sep.stderr
    no_secret = run_cli("secrets", "run", f"nope-{unique}", "--", "true")
    assert no_secret.returncode == 1 and "not found" in no_secret.stderr
    for proc in (missing, no_sep, no_secret):
        assert proc.stdout == "" and canary not in proc.stderr


# --- set --remove-key, rename ----------------------------------------------------------


def test_remove_key_keeps_the_others(unique: str, canary: str) -> None:
    name = f"rm-{unique}"
    created = kitaru.create_secret(name, {"A": canary, "B": "b", "C": "c"})
    out = ok(run_cli("secrets", "set", name, "--remove-key", "A", "--remove-key", "C"), canary)
    assert "Removed A, C" in out and "keys: B" in out
    after = kitaru.get_secret(name)
    assert after.id == created.id and after.values == {"B": "b"}

    missing = run_cli("secrets", "set", name, "--remove-key", "NOPE")
    assert missing.returncode == 1 and "no key 'NOPE'" in missing.stderr
    mixed = run_cli("secrets", "set", name, "--remove-key", "B", "--X=1")
    assert mixed.returncode == 2
    assert kitaru.get_secret(name).values == {"B": "b"}


def test_rename_keeps_id_and_relinks_aliases(fresh_config: Path, canary: str) -> None:
    env = {"KITARU_CONFIG_PATH": str(fresh_config)}
    ok(run_cli("secrets", "set", "old-name", f"--K={canary}", env=env))
    ok(run_cli("secrets", "set", "taken", "--K=x", env=env))
    ok(run_cli("model", "register", "m", "--model", "openai/x", "--secret", "old-name", env=env))
    before = json.loads(ok(run_cli("secrets", "show", "old-name", "--json", env=env)))

    clash = run_cli("secrets", "rename", "old-name", "taken", env=env)
    assert clash.returncode == 1 and "already exists" in clash.stderr
    out = ok(run_cli("secrets", "rename", "old-name", "new-name", env=env), canary)
    assert "Renamed public secret 'old-name' to 'new-name'" in out and "m" in out
    after = json.loads(ok(run_cli("secrets", "show", "new-name", "-o", "json", env=env)))
    assert after["id"] == before["id"] and after["keys"] == ["K"]
    models = json.loads(ok(run_cli("model", "list", "-o", "json", env=env)))
    assert [m["secret"] for m in models] == ["new-name"]
    gone = run_cli("secrets", "show", "old-name", env=env)
    assert gone.returncode == 1

    # delete: warns naming the linking alias; no prompt when not a terminal.
    deleted = run_cli("secrets", "delete", "new-name", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert "'m'" in deleted.stderr and "Deleted public secret 'new-name'" in deleted.stdout


# --- delete on a terminal --------------------------------------------------------------


def _on_terminal(args: list[str], answer: str | None) -> tuple[int, str]:
    """Run kitaru with stdin/stdout/stderr on a pseudo-terminal; type ``answer``."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([KITARU, *args], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen = b""
    answered = answer is None
    deadline = time.monotonic() + 120  # a safety stop, not a timing assertion
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(master, (answer or "").encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    rc = proc.wait(timeout=60)
    os.close(master)
    return rc, seen.decode(errors="replace")


def test_delete_asks_on_a_terminal(unique: str) -> None:
    name = f"del-tty-{unique}"
    kitaru.create_secret(name, {"K": "v"})
    rc, out = _on_terminal(["secrets", "delete", name], "n")
    assert rc == 1 and f"Delete public secret '{name}'" in out and "Not deleted" in out
    assert kitaru.get_secret(name).values == {"K": "v"}

    rc, out = _on_terminal(["secrets", "delete", name], "y")
    assert rc == 0 and "Deleted public secret" in out
    assert name not in {s.name for s in kitaru.list_secrets()}

    kitaru.create_secret(name, {"K": "v"})
    rc, out = _on_terminal(["secrets", "delete", name, "--yes"], None)
    assert rc == 0 and "[y/N]" not in out and "Deleted public secret" in out


# --- model register/remove/show --------------------------------------------------------


def test_register_needs_force_and_remove_names_the_new_default(fresh_config: Path) -> None:
    env = {"KITARU_CONFIG_PATH": str(fresh_config)}
    ok(run_cli("model", "register", "alpha", "--model", "openai/one", env=env))
    ok(run_cli("model", "register", "beta", "--model", "openai/two", env=env))
    again = run_cli("model", "register", "alpha", "--model", "openai/other", env=env)
    assert again.returncode == 2 and "--force" in again.stderr
    models = {m["alias"]: m for m in json.loads(ok(run_cli("model", "list", "--json", env=env)))}
    assert models["alpha"]["model"] == "openai/one"
    ok(run_cli("model", "register", "alpha", "--model", "openai/other", "--force", env=env))
    models = {m["alias"]: m for m in json.loads(ok(run_cli("model", "list", "--json", env=env)))}
    assert models["alpha"]["model"] == "openai/other" and models["alpha"]["is_default"]

    out = ok(run_cli("model", "remove", "alpha", env=env))
    assert "'beta' (openai/two) is the default now" in out
    out = ok(run_cli("model", "remove", "beta", env=env))
    assert "no default" in out


def test_model_show_names_the_credential_source(fresh_config: Path, canary: str) -> None:
    env = {"KITARU_CONFIG_PATH": str(fresh_config), "OPENAI_API_KEY": ""}
    ok(run_cli("secrets", "set", "oa-creds", f"--OPENAI_API_KEY={canary}", env=env))
    ok(
        run_cli(
            "model",
            "register",
            "fast",
            "--model",
            "openai/gpt-4o-mini",
            "--secret",
            "oa-creds",
            env=env,
        )
    )
    ok(run_cli("model", "register", "bare", "--model", "anthropic/claude-x", env=env))
    base = dict(os.environ)
    base.pop("OPENAI_API_KEY", None)
    base.pop("ANTHROPIC_API_KEY", None)

    def show(alias: str, **extra: str) -> dict[str, object]:
        proc = subprocess.run(
            [KITARU, "model", "show", alias, "--json"],
            env={**base, **env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert canary not in proc.stdout + proc.stderr
        return json.loads(proc.stdout)["credential"]  # type: ignore[no-any-return]

    env.pop("OPENAI_API_KEY")
    assert show("fast")["source"] == "secret:oa-creds"
    overridden = show("fast", OPENAI_API_KEY="sk-from-env")
    assert overridden["source"] == "env:OPENAI_API_KEY"
    assert overridden["overridden_secret"] == "oa-creds"
    none = show("bare")
    assert none["source"] == "none" and none["variables"] == ["ANTHROPIC_API_KEY"]
    text = ok(run_cli("model", "show", "fast", env=env), canary)
    assert "Credential: secret:oa-creds (OPENAI_API_KEY)" in text
    missing = run_cli("model", "show", "nope", env=env)
    assert missing.returncode == 1 and "not registered" in missing.stderr


# --- output formats --------------------------------------------------------------------


def test_output_formats(unique: str, canary: str) -> None:
    name = f"fmt-{unique}"
    s = kitaru.create_secret(name, {"A": canary, "B": canary})
    as_json = json.loads(ok(run_cli("secrets", "show", name, "--json"), canary))
    assert json.loads(ok(run_cli("secrets", "show", name, "-o", "json"))) == as_json
    assert yaml.safe_load(ok(run_cli("secrets", "show", name, "-o", "yaml"))) == as_json
    tsv = ok(run_cli("secrets", "show", name, "-o", "tsv")).splitlines()
    assert tsv[0] == "field\tvalue" and f"id\t{s.id}" in tsv and "keys\tA,B" in tsv

    listing = yaml.safe_load(ok(run_cli("secrets", "list", "-o", "yaml")))
    mine = next(i for i in listing if i["id"] == s.id)
    assert mine["name"] == name and mine["keys"] == ["A", "B"]
    table = ok(run_cli("secrets", "list", "-o", "table"))
    assert "│" in table and s.id in table

    clash = run_cli("secrets", "list", "--json", "-o", "yaml")
    assert clash.returncode == 2 and "--json" in clash.stderr
    bad = run_cli("secrets", "list", "-o", "xml")
    assert bad.returncode == 2

    status = ok(run_cli("status", "-o", "tsv")).splitlines()
    assert status[0] == "field\tvalue" and any(r.startswith("store\t") for r in status)


def test_tables_fit_the_terminal_and_keep_ids_whole(unique: str) -> None:
    name = f"narrow-{unique}-with-a-rather-long-name"
    s = kitaru.create_secret(name, {"FIRST_LONG_KEY_NAME": "v", "SECOND_LONG_KEY_NAME": "w"})
    for width in (70, 100):
        out = ok(run_cli("secrets", "list", "-o", "table", env={"COLUMNS": str(width)}))
        assert max(len(line) for line in out.splitlines()) <= width
        assert s.id in out  # on one line, copyable
    wide = ok(run_cli("secrets", "list", "-o", "table", env={"COLUMNS": "250"}))
    assert name in wide and "FIRST_LONG_KEY_NAME, SECOND_LONG_KEY_NAME" in wide


def test_version_and_completion() -> None:
    from importlib.metadata import version

    expected = f"kitaru, version {version('kitaru')}"
    for args in (["version"], ["-V"], ["--version"]):
        assert ok(run_cli(*args)).strip() == expected
    bash = ok(run_cli("completion", "bash"))
    assert "_KITARU_COMPLETE" in bash and "complete " in bash
    assert "compdef" in ok(run_cli("completion", "zsh"))
    assert "complete --no-files --command kitaru" in ok(run_cli("completion", "fish"))
    bad = run_cli("completion", "tcsh")
    assert bad.returncode == 2

    # The bash script really completes: ask it as bash would.
    proc = run_cli(
        env={"_KITARU_COMPLETE": "bash_complete", "COMP_WORDS": "kitaru sec", "COMP_CWORD": "1"}
    )
    assert proc.returncode == 0 and "secrets" in proc.stdout


def test_every_listing_and_show_takes_o() -> None:
    from kitaru.cli import cli

    commands = {
        ("secrets", "list"),
        ("secrets", "show"),
        ("model", "list"),
        ("model", "show"),
        ("executions", "list"),
        ("executions", "show"),
        ("status",),
    }
    for path in commands:
        cmd = cli
        for part in path:
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert {"-o", "--output", "--json"} <= opts, path
        choice = next(p for p in cmd.params if "-o" in getattr(p, "opts", []))
        assert set(choice.type.choices) == {"json", "yaml", "tsv", "table"}, path
