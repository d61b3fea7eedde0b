"""ZenML's dashboard shows kitaru's executions as their author wrote them.

Real parts only: ``kitaru login --local`` starts ZenML's server on 127.0.0.1
over a fresh kitaru store, flows run in subprocesses through it, and Debian's
Chromium (headless, driven by Playwright) logs in and reads the pages. The
screenshots are kept in a directory that the test prints.

The tests of this module share one server and run in order; the last one logs
out, which stops it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import ensure_playwright, launch
from conftest import PYTHON, run_cli

from kitaru._zenml.local_server import missing_server_extra

FLOWS = '''
import logging
import os
import sys

import kitaru
from kitaru import checkpoint, flow, get_secret

log = logging.getLogger("dashflows")


@checkpoint
def compose_greeting(who: str) -> str:
    """Greet WHO with the team's key (never shown)."""
    key = get_secret("dash-creds")["OPENAI_API_KEY"]
    print(f"printed-marker for {who}: key={key}")
    log.warning("logged-marker for %s", who)
    kitaru.llm(f"summarise {who}", model="dashllm")
    return f"Hello, {who}!"


@checkpoint
def risky_step(n: int) -> int:
    if os.environ.get("DASH_FAIL") == "1":
        raise ValueError(f"user-failure-marker {n}")
    return n * 2


@flow
def dash_flow(who: str, n: int) -> str:
    text = compose_greeting(who)
    risky_step(n)
    return text


if __name__ == "__main__":
    handle = dash_flow.run(sys.argv[1], 21)
    try:
        handle.wait()
    except Exception:
        pass
    print("EXECUTION", handle.execution_id)
'''

# An isolated checkpoint, on an orchestrator that runs it in a process of its own.
ISOFLOWS = '''
import sys

from kitaru import checkpoint, flow


@checkpoint(runtime="isolated")
def shout_apart(word: str) -> str:
    """Runs in a process of its own."""
    loud = word.upper() + "-isolated-marker"
    return loud


@flow
def iso_flow(word: str) -> str:
    return shout_apart(word)


if __name__ == "__main__":
    handle = iso_flow.run(sys.argv[1], stack=sys.argv[2])
    handle.wait()
    print("EXECUTION", handle.execution_id)
'''


def _env(config: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, KITARU_CONFIG_PATH=str(config), KITARU_PROGRESS="0")
    env.update(extra)
    return env


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config)}, timeout=300)


def _run_flow(
    workdir: Path, config: Path, *args: str, script: str = "dashflows.py", **extra: str
) -> str:
    done = subprocess.run(
        [PYTHON, script, *args],
        cwd=workdir,
        env=_env(config, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = re.search(r"^EXECUTION (\S+)$", done.stdout, re.M)
    assert found, done.stdout + done.stderr
    return found.group(1)


@pytest.fixture(scope="module")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, canary: str, openai_server: Any
) -> Iterator[dict[str, Any]]:
    """A local server over a fresh store, with a completed, a failed and a replayed run."""
    assert missing_server_extra() is None, "the dev install includes the server extra"
    ensure_playwright()
    root = tmp_path_factory.mktemp("dashboard")
    config = root / "config"
    (root / "dashflows.py").write_text(FLOWS)
    (root / "isoflows.py").write_text(ISOFLOWS)
    done = _cli(config, "secrets", "set", "dash-creds", f"--OPENAI_API_KEY={canary}")
    assert done.returncode == 0, done.stderr
    model = ["--model", "openai/demo", "--secret", "dash-creds"]
    done = _cli(
        config, "model", "register", "dashllm", *model, "--api-base", openai_server.base_url
    )
    assert done.returncode == 0, done.stderr
    login = _cli(config, "login", "--local", "--json")
    assert login.returncode == 0, login.stderr
    info = json.loads(login.stdout)
    try:
        ok = _run_flow(root, config, "ada")
        failed = _run_flow(root, config, "bob", DASH_FAIL="1")
        replay = _cli(config, "executions", "replay", failed, "--json")
        assert replay.returncode == 0, replay.stderr
        stack = [
            "stack", "create", "apart", "--orchestrator", "kitaru_subprocess",
            "--option", f"python={PYTHON}", "--option", "isolate=false",
            "--option", f"workdir={root / 'runs'}",
        ]  # fmt: skip
        done = _cli(config, *stack)
        assert done.returncode == 0, done.stderr
        isolated = _run_flow(root, config, "ada", "apart", script="isoflows.py")
        yield {
            "config": config,
            "info": info,
            "ok": ok,
            "failed": failed,
            "replay": json.loads(replay.stdout)["execution_id"],
            "isolated": isolated,
            "canary": canary,
        }
    finally:
        _cli(config, "logout")


@pytest.fixture(scope="module")
def canary() -> str:
    import uuid

    return f"canary-{uuid.uuid4().hex}"


def test_login_local_prints_the_dashboard_and_answers_onboarding(dashboard: dict[str, Any]) -> None:
    info = dashboard["info"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", info["dashboard_url"])
    assert Path(info["password_file"]).stat().st_mode & 0o077 == 0
    status = _cli(dashboard["config"], "status")
    assert info["server_url"] in status.stdout, status.stdout
    import httpx

    password = Path(info["password_file"]).read_text().strip()
    url = info["server_url"]
    empty = httpx.post(f"{url}/api/v1/login", data={"username": "default", "password": ""})
    assert empty.status_code == 401  # the store's user has a password now
    token = httpx.post(
        f"{url}/api/v1/login", data={"username": "default", "password": password}
    ).json()["access_token"]
    me = httpx.get(f"{url}/api/v1/current-user", headers={"Authorization": f"Bearer {token}"})
    body = me.json()["body"]
    meta = me.json()["metadata"]["user_metadata"]
    assert body["email_opted_in"] is False  # the newsletter box is not ticked
    assert meta["finished_onboarding_survey"] is True


def test_web_prints_the_execution_page(dashboard: dict[str, Any]) -> None:
    done = _cli(dashboard["config"], "executions", "show", dashboard["ok"][:8], "--web")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url == f"{dashboard['info']['server_url']}/projects/default/runs/{dashboard['ok']}"


def test_the_dashboard_shows_the_users_code_output_and_errors(
    dashboard: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "dashboard-shots"  # pytest keeps the last few sessions' folders
    shots.mkdir()
    with capsys.disabled():
        print(f"\n[dashboard screenshots: {shots}]", file=sys.stderr)
    info, canary = dashboard["info"], dashboard["canary"]
    runs = f"{info['server_url']}/projects/default/runs"
    original_step = _step_run_id(info, dashboard["failed"], "compose_greeting")
    with sync_playwright() as pw:
        b = launch(pw, info["server_url"], shots)
        b.login("default", Path(info["password_file"]).read_text().strip())
        assert "survey" not in b.page.url.lower()
        # The header's login command is kitaru's: ZenML's would open ZenML's own store.
        b.wait_for_text("login --local")
        text = b.shot("header")
        assert "kitaru login --local" in text and "zenml login" not in text

        # The runs list: each run's duration, and the run a replay replayed.
        text = b.open(runs, "runs-list", expect="REPLAYED FROM")
        assert "DURATION" in text.upper() and "REPLAYED FROM" in text.upper()
        replay_row = b.row(dashboard["replay"].split("-")[0])
        assert dashboard["failed"].split("-")[0] in replay_row
        assert re.search(r"\b\d+\.\ds\b", b.row(dashboard["ok"].split("-")[0]))

        text = b.open(f"{runs}/{dashboard['ok']}", "completed-run", expect="risky_step")
        assert "compose_greeting" in text and "risky_step" in text
        b.page.get_by_role("tab", name="Code").first.click()
        b.settle()
        b.wait_for_text("def dash_flow")
        text = b.shot("run-code")
        assert "def dash_flow(who: str, n: int) -> str:" in text
        assert "kitaru_flow" not in text

        # A small output is viewable: the server reads the local artifact store.
        b.open_step("output")
        b.tab("Visualization")
        b.page.get_by_role("button", name="Load Preview").click()
        b.settle()
        b.wait_for_text("Hello, ada!")
        assert "Hello, ada!" in b.shot("output-view")

        b.open(f"{runs}/{dashboard['ok']}", "completed-run-again", expect="risky_step")
        b.open_step("compose_greeting")
        code = b.tab("Code", expect="def compose_greeting")
        assert "def compose_greeting(who: str) -> str:" in code
        assert 'print(f"printed-marker for {who}: key={key}")' in code
        assert "kitaru_checkpoint" not in code and "call_key" not in code
        config = b.tab("Configuration", expect="Cache Policy")
        assert "call_key" not in config
        logs = b.tab("Logs", expect="printed-marker")
        assert "printed-marker for ada: key=[REDACTED]" in logs
        assert "logged-marker for ada" in logs
        # The call's record, as cards of fields (item by item, not one JSON blob).
        b.tab("Metadata", expect="kitaru_llm_call_1")
        for card in ("kitaru", "kitaru_secret_read_1", "kitaru_llm_call_1"):
            b.page.get_by_text(card, exact=True).last.click()
        b.wait_for_text("OPENAI_API_KEY")
        meta = b.shot("metadata-open")
        for field in ("attempts", "duration_s", "secret_reads", "llm_calls", "status"):
            assert field in meta, meta
        assert "dash-creds" in meta and "OPENAI_API_KEY" in meta  # names and keys only
        assert "dashllm" in meta and "openai/demo" in meta, meta
        llm_fields = ("usage.prompt_tokens", "usage.completion_tokens", "latency_s", "cost_usd")
        for field in (*llm_fields, "credential_source"):
            assert field in meta, meta
        assert re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", meta), meta  # ISO timestamps

        text = b.open(f"{runs}/{dashboard['failed']}", "failed-run", expect="risky_step")
        assert "failed" in text.lower()
        b.open_step("risky_step")
        # The Code tab shows the error above the code ("Go to error" jumps to its line).
        code = b.tab("Code", expect="user-failure-marker")
        assert "Go to error" in code
        assert "user-failure-marker 21" in code
        assert 'raise ValueError(f"user-failure-marker {n}")' in code
        assert "def risky_step(n: int) -> int:" in code
        # kitaru's and ZenML's frames are dropped: the user's frame is the whole traceback.
        assert "kitaru_checkpoint" not in code and "/zenml/" not in code
        assert "_run_checkpoint_body" not in code and "call_body" not in code
        assert code.count('  File "') == 1

        text = b.open(f"{runs}/{dashboard['replay']}", "replay-run", expect="Replay of")
        assert "Replay of" in text
        assert "completed" in text.lower()
        # A reused checkpoint: no expired cache entry, and a card naming where it came from.
        b.open_step("compose_greeting")
        overview = b.tab("Overview", expect="Cache expiration")
        assert "(Expired)" not in overview
        assert re.search(r"Cache expiration\s*Never", overview), overview
        b.tab("Metadata", expect="kitaru_reused_from")
        b.page.get_by_text("kitaru_reused_from", exact=True).last.click()
        b.wait_for_text(dashboard["failed"])
        meta = b.shot("reused-metadata")
        assert dashboard["failed"] in meta and original_step in meta, meta
        assert f"{info['server_url']}/projects/default/runs/{dashboard['failed']}" in meta

        # An isolated checkpoint's Code tab shows the user's function too.
        b.open(f"{runs}/{dashboard['isolated']}", "isolated-run", expect="shout_apart")
        b.open_step("shout_apart")
        code = b.tab("Code", expect="def shout_apart")
        assert "def shout_apart(word: str) -> str:" in code
        assert 'loud = word.upper() + "-isolated-marker"' in code
        assert "kitaru_isolated_checkpoint" not in code and "call_key" not in code

        b.page.context.browser.close()
    (shots / "pages.txt").write_text("\n\n".join(f"== {n}\n{t}" for n, t in b.texts))
    pages = "\n".join(t for _, t in b.texts)
    assert canary not in pages
    assert b.bodies, "the browser received responses"
    leaked = [url for url, body in b.bodies if canary.encode() in body]
    assert leaked == []


def test_logout_stops_the_server_and_keeps_runs_and_secrets(dashboard: dict[str, Any]) -> None:
    config, info = dashboard["config"], dashboard["info"]
    done = _cli(config, "logout")
    assert done.returncode == 0, done.stderr
    assert f"Stopped the local server at {info['server_url']}" in done.stdout
    assert not Path(f"/proc/{info['pid']}").exists() or _is_zombie(info["pid"])
    status = _cli(config, "status")
    assert "local (embedded" in status.stdout, status.stdout
    shown = _cli(config, "secrets", "show", "dash-creds", "--show-values")
    assert dashboard["canary"] in shown.stdout  # the secret written before is still readable
    listed = _cli(config, "executions", "list", "--json")
    ids = {e["id"] for e in json.loads(listed.stdout)}
    assert {dashboard["ok"], dashboard["failed"], dashboard["replay"]} <= ids
    out = _cli(config, "executions", "show", dashboard["ok"], "--json")
    shown_ex = json.loads(out.stdout)
    # The checkpoint's output was written while connected; it is read back from the
    # embedded store's artifact store now.
    assert shown_ex["checkpoints"][0]["output"] == "Hello, ada!"  # a JSON value
    web = _cli(config, "executions", "show", dashboard["ok"], "--web")
    assert web.returncode == 1
    assert "kitaru login --local" in web.stderr


def _step_run_id(info: dict[str, Any], run_id: str, step: str) -> str:
    """The ID of step run ``step`` of run ``run_id``, read from the server's API."""
    import httpx

    url = info["server_url"]
    password = Path(info["password_file"]).read_text().strip()
    token = httpx.post(
        f"{url}/api/v1/login", data={"username": "default", "password": password}
    ).json()["access_token"]
    steps = httpx.get(
        f"{url}/api/v1/steps",
        params={"pipeline_run_id": run_id, "name": step},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["items"]
    assert len(steps) == 1, steps
    return str(steps[0]["id"])


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def test_login_local_without_the_server_extra_says_what_to_install(tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "fastapi"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        textwrap.dedent(
            """
            raise ImportError("No module named 'fastapi'", name="fastapi")
            """
        )
    )
    config = tmp_path / "config"
    done = run_cli(
        "login",
        "--local",
        env={"KITARU_CONFIG_PATH": str(config), "PYTHONPATH": str(tmp_path / "shim")},
    )
    assert done.returncode == 1
    assert "pip install 'kitaru[server]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (config / "server.json").exists()
    assert not (config / "local-server.json").exists()
