"""`kitaru secrets ...`: click's CliRunner for the many cases, the real console
script (subprocess) for exit codes and stderr as a user sees them.

Every value written is a unique canary; no output may contain it, except
`show --show-values`.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

# Import conftest under the name pytest gave it: importing it as
# `tests.conftest` would run it twice and switch the session's config dir.
from conftest import run_cli

import kitaru
from kitaru._store import secret_store
from kitaru._store.backend import StoredSecret
from kitaru.cli import cli


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def assert_ok(result: Result, *canaries: str) -> None:
    assert result.exit_code == 0, result.output
    for c in canaries:
        assert c not in result.stdout and c not in result.stderr


def assert_one_line_error(code: int, stdout: str, stderr: str, *canaries: str) -> str:
    assert code != 0
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in stderr
    for c in canaries:
        assert c not in stderr
    return lines[0]


def _only(name: str) -> kitaru.SecretSummary:
    matches = [s for s in kitaru.list_secrets() if s.name == name]
    assert len(matches) == 1, matches
    return matches[0]


# --- set ----------------------------------------------------------------------


def test_set_creates_public_and_prints_keys_not_values(unique: str, canary: str) -> None:
    name = f"cli-set-{unique}"
    result = invoke("secrets", "set", name, f"--TOKEN={canary}", f"--URL=u-{canary}")
    assert_ok(result, canary)
    summary = _only(name)
    assert result.stdout == (f"Created public secret '{name}' ({summary.id}): TOKEN, URL\n")
    assert summary.private is False
    assert kitaru.get_secret(name).values == {"TOKEN": canary, "URL": f"u-{canary}"}


def test_set_existing_updates_keys_keeps_others(unique: str, canary: str) -> None:
    name = f"cli-upsert-{unique}"
    assert_ok(invoke("secrets", "set", name, f"--KEEP=k-{canary}", f"--CHANGE=o-{canary}"), canary)
    result = invoke("secrets", "set", name, f"--CHANGE=n-{canary}", f"--ADD=a-{canary}")
    assert_ok(result, canary)
    assert result.stdout.startswith(f"Updated public secret '{name}' (")
    assert result.stdout.rstrip().endswith(": ADD, CHANGE")
    assert "Note" not in result.stdout
    assert kitaru.get_secret(name).values == {
        "KEEP": f"k-{canary}",
        "CHANGE": f"n-{canary}",
        "ADD": f"a-{canary}",
    }


def test_set_private_creates_private(unique: str, canary: str) -> None:
    name = f"cli-private-{unique}"
    result = invoke("secrets", "set", name, "--private", f"--TOKEN={canary}")
    assert_ok(result, canary)
    assert result.stdout.startswith(f"Created private secret '{name}'")
    assert _only(name).private is True
    # A later set without --private keeps it private and prints no note.
    again = invoke("secrets", "set", name, f"--OTHER={canary}")
    assert_ok(again, canary)
    assert again.stdout.startswith(f"Updated private secret '{name}'")
    assert len(again.stdout.splitlines()) == 1
    assert _only(name).private is True


def test_set_private_on_existing_public_prints_one_line_note(unique: str, canary: str) -> None:
    name = f"cli-kept-public-{unique}"
    assert_ok(invoke("secrets", "set", name, f"--A={canary}"), canary)
    result = invoke("secrets", "set", name, "--private", f"--B=b-{canary}")
    assert_ok(result, canary)
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"Updated public secret '{name}'")
    assert lines[1].startswith("Note:") and "--private" in lines[1] and "public" in lines[1]
    summary = _only(name)
    assert summary.private is False and summary.keys == ("A", "B")


def test_set_json(unique: str, canary: str) -> None:
    name = f"cli-set-json-{unique}"
    assert_ok(invoke("secrets", "set", name, f"--A={canary}"), canary)
    result = invoke("secrets", "set", name, "--private", "--json", f"--B={canary}")
    assert_ok(result, canary)
    data = json.loads(result.stdout)
    assert data["action"] == "updated"
    assert data["keys_set"] == ["B"]
    assert data["private_requested_but_kept_public"] is True
    assert data["secret"]["name"] == name and data["secret"]["keys"] == ["A", "B"]


def test_set_value_from_stdin(unique: str, canary: str) -> None:
    name = f"cli-stdin-{unique}"
    result = invoke("secrets", "set", name, "--TOKEN=-", f"--PLAIN=p-{canary}", input=canary + "\n")
    assert_ok(result, canary)
    assert kitaru.get_secret(name).values == {"TOKEN": canary, "PLAIN": f"p-{canary}"}


def test_set_from_env_file(unique: str, canary: str, tmp_path: Path) -> None:
    name = f"cli-envfile-{unique}"
    path = tmp_path / "creds.env"
    path.write_text(
        f"# a comment\n\nPLAIN={canary}-1\nexport QUOTED=\"{canary} 2\"\nSINGLE='{canary}=3'\n",
        encoding="utf-8",
    )
    result = invoke("secrets", "set", name, "--from-file", str(path), f"--EXTRA={canary}-4")
    assert_ok(result, canary)
    assert result.stdout.rstrip().endswith(": EXTRA, PLAIN, QUOTED, SINGLE")
    assert kitaru.get_secret(name).values == {
        "PLAIN": f"{canary}-1",
        "QUOTED": f"{canary} 2",
        "SINGLE": f"{canary}=3",
        "EXTRA": f"{canary}-4",
    }


def test_set_from_json_file_and_from_stdin(unique: str, canary: str, tmp_path: Path) -> None:
    name = f"cli-jsonfile-{unique}"
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"API_KEY": canary, "API_BASE": f"https://{canary}"}), "utf-8")
    assert_ok(invoke("secrets", "set", name, "--from-file", str(path)), canary)
    assert kitaru.get_secret(name).values == {"API_KEY": canary, "API_BASE": f"https://{canary}"}
    # "-" reads the file contents from standard input.
    result = invoke("secrets", "set", name, "--from-file", "-", input=f"API_KEY=new-{canary}\n")
    assert_ok(result, canary)
    assert kitaru.get_secret(name).get("API_KEY") == f"new-{canary}"


def test_set_from_env_file_follows_dotenv_rules(unique: str, canary: str, tmp_path: Path) -> None:
    name = f"cli-dotenv-{unique}"
    path = tmp_path / ".env"
    text = (
        "# comment\n"
        f"A={canary}-a # a note after the value\n"
        "C=3 # note\n"
        f'export QUOTED="{canary}\\nline two"  # escapes in double quotes\n'
        f"LITERAL='{canary}\\n#kept'\n"
        f"db_host={canary}-host\n"
    )
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    assert_ok(invoke("secrets", "set", name, "--from-file", str(path)), canary)
    assert kitaru.get_secret(name).values == {
        "A": f"{canary}-a",
        "C": "3",
        "QUOTED": f"{canary}\nline two",
        "LITERAL": f"{canary}\\n#kept",
        "db_host": f"{canary}-host",
    }


def test_keys_in_a_file_follow_the_command_line_key_rule(unique: str, tmp_path: Path) -> None:
    name = f"cli-filekey-{unique}"
    path = tmp_path / "bad.env"
    path.write_text("bad-key=1\n", encoding="utf-8")
    from_file = invoke("secrets", "set", name, "--from-file", str(path))
    on_line = invoke("secrets", "set", name, "--bad-key=1")
    assert from_file.exit_code == on_line.exit_code == 2
    assert from_file.stderr == on_line.stderr
    assert "Invalid secret key 'bad-key'" in on_line.stderr
    assert [s for s in kitaru.list_secrets() if s.name == name] == []


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(b"A=1\n\x00\x01\x02binary", "looks binary", id="binary"),
        pytest.param("A=caf\u00e9\n".encode("latin-1"), "is not UTF-8 text", id="latin-1"),
    ],
)
def test_binary_or_non_utf8_file_is_bad_input(
    data: bytes, text: str, unique: str, tmp_path: Path
) -> None:
    name = f"proc-file-{unique}"
    path = tmp_path / "creds.env"
    path.write_bytes(data)
    proc = run_cli("secrets", "set", name, "--from-file", str(path))
    assert proc.returncode == 2, proc.stderr
    line = assert_one_line_error(proc.returncode, proc.stdout, proc.stderr)
    assert f"{path}: {text}" in line
    assert [s for s in kitaru.list_secrets() if s.name == name] == []


def test_mistyped_option_without_a_terminal_is_refused(unique: str, canary: str) -> None:
    name = f"proc-typo-{unique}"
    proc = run_cli("secrets", "set", name, "--privat", f"--OPENAI_API_KEY={canary}")
    assert proc.returncode == 2, proc.stderr
    line = assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, canary)
    assert "did you mean --private?" in line
    assert [s for s in kitaru.list_secrets() if s.name == name] == []


def test_set_prompts_for_bare_key_on_a_terminal(unique: str, canary: str) -> None:
    name = f"cli-prompt-{unique}"
    out = run_on_terminal(["secrets", "set", name, "--TOKEN"], canary + "\n")
    assert "Value for TOKEN" in out and canary not in out  # hidden input
    assert kitaru.get_secret(name).get("TOKEN") == canary


@pytest.mark.parametrize("stdin", ["", "piped-value\n"], ids=["empty", "piped"])
def test_bare_key_without_a_terminal_is_one_line(unique: str, stdin: str) -> None:
    name = f"cli-no-tty-{unique}"
    proc = run_cli("secrets", "set", name, "--TOKEN", input=stdin)
    line = assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, "piped-value")
    assert proc.returncode == 2
    assert "--TOKEN=-" in line and "GetPassWarning" not in proc.stderr
    assert "Aborted" not in proc.stderr
    assert [s for s in kitaru.list_secrets() if s.name == name] == []


def run_on_terminal(args: list[str], typed: str) -> str:
    """Run the CLI with a pseudo-terminal as its controlling terminal; type ``typed``."""
    import fcntl
    import os
    import subprocess
    import sys
    import termios

    master, slave = os.openpty()

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "kitaru"), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=take_terminal,  # the child needs a terminal of its own
    )
    os.close(slave)
    seen = b""
    while b"Value for" not in seen:
        seen += os.read(master, 1024)
    os.write(master, typed.encode())
    try:
        while True:
            chunk = os.read(master, 1024)
            if not chunk:
                break
            seen += chunk
    except OSError:  # EIO: the terminal's other side closed
        pass
    assert proc.wait(timeout=120) == 0, seen.decode(errors="replace")
    os.close(master)
    return seen.decode(errors="replace")


# --- show ---------------------------------------------------------------------


def test_show_prints_metadata_and_values_only_when_asked(unique: str, canary: str) -> None:
    name = f"cli-show-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary, "URL": f"u-{canary}"})
    plain = invoke("secrets", "show", name)
    assert_ok(plain, canary)
    assert f"Name:       {name}" in plain.stdout
    assert f"ID:         {created.id}" in plain.stdout
    assert "Visibility: public" in plain.stdout
    assert "  TOKEN\n" in plain.stdout and "  URL\n" in plain.stdout

    by_id = invoke("secrets", "show", created.id)
    assert_ok(by_id, canary)
    assert by_id.stdout == plain.stdout

    shown = invoke("secrets", "show", name, "--show-values")
    assert shown.exit_code == 0
    assert f"  TOKEN: {canary}\n" in shown.stdout
    assert f"  URL: u-{canary}\n" in shown.stdout
    assert canary not in shown.stderr


def test_show_json(unique: str, canary: str) -> None:
    name = f"cli-show-json-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary}, private=True)
    result = invoke("secrets", "show", name, "--json")
    assert_ok(result, canary)
    data = json.loads(result.stdout)
    assert data["name"] == name and data["id"] == created.id
    assert data["private"] is True and data["visibility"] == "private"
    assert data["keys"] == ["TOKEN"] and data["unavailable_keys"] == []
    assert "values" not in data
    with_values = json.loads(invoke("secrets", "show", name, "--json", "--show-values").stdout)
    assert with_values["values"] == {"TOKEN": canary}


def test_show_marks_withheld_values_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only a server withholds values (None); stand in for it.
    stored = StoredSecret(
        id=str(uuid.uuid4()), name="team-creds", private=False, values={"OK": "v", "HIDDEN": None}
    )
    monkeypatch.setattr(secret_store, "get_secret", lambda ref: stored)
    assert "  HIDDEN: unavailable\n" in invoke("secrets", "show", "team-creds").stdout
    shown = invoke("secrets", "show", "team-creds", "--show-values").stdout
    assert "  HIDDEN: unavailable\n" in shown and "  OK: v\n" in shown
    data = json.loads(invoke("secrets", "show", "team-creds", "--json").stdout)
    assert data["unavailable_keys"] == ["HIDDEN"]


# --- list ---------------------------------------------------------------------


def test_list_table_and_json(unique: str, canary: str) -> None:
    pub = kitaru.create_secret(f"cli-list-{unique}-pub", {"TOKEN": canary})
    priv = kitaru.create_secret(f"cli-list-{unique}-priv", {"A": canary, "B": canary}, private=True)
    wide = {"COLUMNS": "250"}  # room for whole names: a narrow table folds them
    table = CliRunner().invoke(cli, ["secrets", "list", "-o", "table"], env=wide)
    assert_ok(table, canary)
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "│" in line}
    assert pub.id in rows[pub.name] and "public" in rows[pub.name] and "TOKEN" in rows[pub.name]
    assert priv.id in rows[priv.name] and "private" in rows[priv.name]
    assert "A, B" in rows[priv.name]

    # Not a terminal: plain tab-separated rows under a header, same as -o tsv.
    piped = invoke("secrets", "list")
    assert_ok(piped, canary)
    assert piped.stdout == invoke("secrets", "list", "-o", "tsv").stdout
    lines = piped.stdout.splitlines()
    assert lines[0] == "Name\tID\tVisibility\tKeys" and "│" not in piped.stdout
    assert f"{priv.name}\t{priv.id}\tprivate\tA, B" in lines

    result = invoke("secrets", "list", "--json")
    assert_ok(result, canary)
    by_id = {item["id"]: item for item in json.loads(result.stdout)}
    assert by_id[pub.id]["name"] == pub.name and by_id[pub.id]["visibility"] == "public"
    assert by_id[priv.id]["keys"] == ["A", "B"] and by_id[priv.id]["private"] is True
    assert all("values" not in item for item in by_id.values())


def test_list_prints_names_literally(unique: str, canary: str) -> None:
    # Regression: names were parsed as rich markup, so "[/]" crashed `list`.
    names = [f"x[/]-{unique}", f"[bold]b-{unique}[/bold]"]
    for name in names:
        kitaru.create_secret(name, {"TOKEN": canary})
    result = invoke("secrets", "list")
    assert_ok(result, canary)
    for name in names:
        assert name in result.stdout


# --- delete -------------------------------------------------------------------


def test_delete(unique: str, canary: str) -> None:
    name = f"cli-delete-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary})
    result = invoke("secrets", "delete", name)
    assert_ok(result, canary)
    assert result.stdout == f"Deleted public secret '{name}' ({created.id}).\n"
    assert all(s.id != created.id for s in kitaru.list_secrets())
    gone = invoke("secrets", "delete", name)
    assert gone.exit_code == 1
    other = kitaru.create_secret(f"{name}-json", {"TOKEN": canary})
    data = json.loads(invoke("secrets", "delete", other.id, "--json").stdout)
    assert data["deleted"] is True and data["id"] == other.id and "values" not in data


# --- errors (in process) ------------------------------------------------------

ERROR_CASES = [
    # (id, args, stdin, exit code, text in the message); {name}, {canary}, {uuid}
    # and {id_prefix} are filled in per test.
    ("show-missing", ["show", "{name}"], None, 1, "not found"),
    ("show-substring", ["show", "{name}"], None, 1, "not found"),
    ("show-id-prefix", ["show", "{id_prefix}"], None, 1, "not found"),
    ("delete-missing", ["delete", "{name}"], None, 1, "not found"),
    ("show-empty-name", ["show", ""], None, 2, "must not be empty"),
    ("set-uuid-name", ["set", "{uuid}", "--TOKEN={canary}"], None, 2, "looks like a secret ID"),
    ("set-lead-space", ["set", " {name}", "--TOKEN={canary}"], None, 2, "whitespace"),
    ("set-bad-key-digit", ["set", "{name}", "--1BAD={canary}"], None, 2, "'1BAD'"),
    ("set-bad-key-dash", ["set", "{name}", "--BAD-KEY={canary}"], None, 2, "'BAD-KEY'"),
    ("set-empty-key", ["set", "{name}", "--={canary}"], None, 2, "key must not be empty"),
    ("set-empty-value", ["set", "{name}", "--TOKEN="], None, 2, "'TOKEN' is empty"),
    ("set-no-keys", ["set", "{name}"], None, 2, "at least one"),
    ("set-dup-key", ["set", "{name}", "--A={canary}", "--A={canary}"], None, 2, "more than once"),
    ("set-two-stdin", ["set", "{name}", "--A=-", "--B=-"], "{canary}", 2, "standard input"),
    # `--KEY value` (space instead of "="): the stray word is a value; never echo it.
    ("set-space-value", ["set", "{name}", "--TOKEN", "{canary}"], None, 2, "after --TOKEN"),
    (
        "set-missing-file",
        ["set", "{name}", "--from-file", "/nonexistent/x"],
        None,
        2,
        "Cannot read",
    ),
    (
        "set-bad-json",
        ["set", "{name}", "--from-file", "-"],
        '{"A": "{canary}"',
        2,
        "not valid JSON",
    ),
    ("set-json-list", ["set", "{name}", "--from-file", "-"], '["{canary}"]', 2, "JSON object"),
    ("set-json-number", ["set", "{name}", "--from-file", "-"], '{"A": 123}', 2, "must be a string"),
    ("set-file-no-eq", ["set", "{name}", "--from-file", "-"], "{canary}\n", 2, "-:1: expected"),
    # Values in a file: strings only, each key once, never "-" (stdin).
    ("set-json-null", ["set", "{name}", "--from-file", "-"], '{"A": null}', 2, "'A' is null"),
    (
        "set-json-dup",
        ["set", "{name}", "--from-file", "-"],
        '{"A": "{canary}", "A": "{canary}"}',
        2,
        "key 'A' appears more than once",
    ),
    (
        "set-env-dup",
        ["set", "{name}", "--from-file", "-"],
        "A={canary}\nB=x-{canary}\nA={canary}\n",
        2,
        "key 'A' appears more than once",
    ),
    (
        "set-env-dash",
        ["set", "{name}", "--from-file", "-"],
        "A=-\n",
        2,
        "-:1: value of key 'A' is '-': a file never reads values from standard input",
    ),
    ("set-json-dash", ["set", "{name}", "--from-file", "-"], '{"A": "-"}', 2, "never reads"),
    # Mistyped options are not keys; a bare --KEY must be an upper-case name.
    (
        "set-typo-private",
        ["set", "{name}", "--privat", "--OPENAI_API_KEY={canary}"],
        None,
        2,
        "Unknown option --privat: did you mean --private?",
    ),
    ("set-typo-upper", ["set", "{name}", "--PRIVATE", "--A={canary}"], None, 2, "--private?"),
    ("set-typo-json", ["set", "{name}", "--jsno", "--A={canary}"], None, 2, "--json?"),
    ("set-typo-file", ["set", "{name}", "--from_fil", "--A={canary}"], None, 2, "--from-file?"),
    ("set-bare-lower", ["set", "{name}", "--token"], "{canary}\n", 2, "(not shown"),
]


@pytest.mark.parametrize(
    ("case", "args", "stdin", "code", "text"),
    [pytest.param(*case, id=case[0]) for case in ERROR_CASES],
)
def test_errors_are_one_line_without_values(
    case: str,
    args: list[str],
    stdin: str | None,
    code: int,
    text: str,
    unique: str,
    canary: str,
) -> None:
    name = f"cli-err-{unique}"
    fill = {"name": name, "canary": canary, "uuid": str(uuid.uuid4()), "id_prefix": ""}
    if case == "show-substring":
        # Only a longer name exists; ZenML's client would match it by substring.
        kitaru.create_secret(f"{name}-longer", {"T": canary})
    if case == "show-id-prefix":
        fill["id_prefix"] = kitaru.create_secret(f"{name}-p", {"T": canary}).id[:8]

    def sub(s: str) -> str:
        for k, v in fill.items():
            s = s.replace("{" + k + "}", v)
        return s

    result = CliRunner().invoke(
        cli, ["secrets", *map(sub, args)], input=sub(stdin) if stdin is not None else None
    )
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    line = assert_one_line_error(result.exit_code, result.stdout, result.stderr, canary)
    assert text in line
    assert [s for s in kitaru.list_secrets() if s.name == name] == []


# --- the real console script ------------------------------------------------


def test_console_script_set_from_stdin(unique: str, canary: str) -> None:
    name = f"proc-stdin-{unique}"
    proc = run_cli("secrets", "set", name, "--API_TOKEN=-", input=canary + "\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Created public secret '{name}' (")
    assert proc.stdout.rstrip().endswith(": API_TOKEN")
    assert canary not in proc.stdout and canary not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert kitaru.get_secret(name).get("API_TOKEN") == canary


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        pytest.param(
            ["show", "proc-missing-{unique}"], 1, "'proc-missing-{unique}' not found", id="missing"
        ),
        pytest.param(
            ["set", " proc-{unique}", "--TOKEN={canary}"], 2, "' proc-{unique}'", id="bad-name"
        ),
        pytest.param(["set", "proc-{unique}", "--9KEY={canary}"], 2, "'9KEY'", id="bad-key"),
    ],
)
def test_console_script_errors(
    args: list[str], code: int, text: str, unique: str, canary: str
) -> None:
    argv = [a.replace("{unique}", unique).replace("{canary}", canary) for a in args]
    proc = run_cli("secrets", *argv)
    assert proc.returncode == code, proc.stderr
    line = assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, canary)
    assert text.replace("{unique}", unique) in line
