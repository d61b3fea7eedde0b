"""Team mode against a real ZenML server on 127.0.0.1 (two users, password auth).

One server per module (plus a second one with a test-only access-control
plug-in that denies reading secret values), started as uvicorn subprocesses on
SQLite with an encrypted SQL secrets store. Every user gets their own
KITARU_CONFIG_PATH and runs kitaru in subprocesses (the `kitaru` console script
or `python -c`), so the test session's own in-process client is never touched.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _team_server import (
    CutProxy,
    Server,
    admin_finish,
    admin_setup,
    clean_env,
    start_server,
    stop_all,
    wait_ready,
)

KITARU = str(Path(sys.executable).parent / "kitaru")
PASSWORDS = {"alice": "alice-Passw0rd!-x7", "bob": "bob-Passw0rd!-y8"}
TIMEOUT = 240


@dataclass
class Team:
    main: Server
    rbac: Server
    root: Path
    dirs: dict[str, Path] = field(default_factory=dict)
    login_output: dict[str, str] = field(default_factory=dict)
    u: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def env(self, who: str, **extra: str) -> dict[str, str]:
        return clean_env(KITARU_CONFIG_PATH=str(self.dirs[who]), **extra)


def _start(
    args: Sequence[str], env: dict[str, str], input: str | None = None
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        list(args),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no controlling terminal: prompts read stdin
    )
    proc._kitaru_input = input  # type: ignore[attr-defined]
    return proc


def _finish(
    proc: subprocess.Popen[str], timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(input=getattr(proc, "_kitaru_input", None), timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_all(
    *jobs: tuple[Sequence[str], dict[str, str], str | None],
) -> list[subprocess.CompletedProcess[str]]:
    """Run several subprocesses at once; results in order."""
    procs = [_start(args, env, inp) for args, env, inp in jobs]
    return [_finish(p) for p in procs]


def cli(
    env: dict[str, str], *args: str, input: str | None = None
) -> tuple[Sequence[str], dict[str, str], str | None]:
    return ([KITARU, *args], env, input)


def py(env: dict[str, str], code: str) -> tuple[Sequence[str], dict[str, str], str | None]:
    return ([sys.executable, "-c", textwrap.dedent(code)], env, None)


def run1(job: tuple[Sequence[str], dict[str, str], str | None]) -> subprocess.CompletedProcess[str]:
    return run_all(job)[0]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def last_json(result: subprocess.CompletedProcess[str]) -> object:
    ok(result)
    text = result.stdout.strip()
    start = min(i for i in (text.find("{"), text.find("[")) if i >= 0)
    return json.loads(text[start:])


# ----------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("team")
    main = start_server(root / "server-main")
    rbac = start_server(root / "server-rbac", rbac=True)
    try:
        wait_ready(main)
        wait_ready(rbac)
        setups = [
            (main, admin_setup(main, PASSWORDS, service_account="ci-bot")),
            (rbac, admin_setup(rbac, PASSWORDS)),
        ]
        for server, proc in setups:
            admin_finish(server, proc)
        t = Team(main=main, rbac=rbac, root=root)
        for who in ("alice", "bob", "alice@rbac", "bob@rbac"):
            t.dirs[who] = root / "users" / who.replace("@", "-")
        # Log in through the real CLI, password on stdin (as a script would).
        jobs = []
        for who in t.dirs:
            user, _, where = who.partition("@")
            url = rbac.url if where else main.url
            jobs.append(
                cli(t.env(who), "login", url, "-u", user, "--stdin", input=PASSWORDS[user] + "\n")
            )
        for who, result in zip(t.dirs, run_all(*jobs), strict=True):
            ok(result)
            t.login_output[who] = result.stdout + result.stderr
        yield t
    finally:
        stop_all([main, rbac])


@pytest.fixture(scope="module")
def shared(team: Team) -> dict[str, dict[str, str]]:
    """Secrets alice creates on the main server, with canary values."""
    u = team.u
    spec = {
        "public": (f"shared-{u}", False, {"API_TOKEN": f"canary-pub-{uuid.uuid4().hex}"}),
        "private": (f"alice-only-{u}", True, {"PRIVATE_TOKEN": f"canary-priv-{uuid.uuid4().hex}"}),
        "team": (f"team-{u}", False, {"BASE_KEY": f"canary-team-{uuid.uuid4().hex}"}),
        "flow": (
            f"flowcreds-{u}",
            False,
            {
                "SERVICE_TOKEN": f"canary-flow-{uuid.uuid4().hex}",
                "OPENAI_API_KEY": f"canary-sk-{uuid.uuid4().hex}",
            },
        ),
        "gone": (f"gone-{u}", False, {"K": "value-before"}),
        "race": (f"race-{u}", False, {"INIT": "x"}),
    }
    code = f"""
        import json, kitaru
        spec = {spec!r}
        out = {{}}
        for label, (name, private, values) in spec.items():
            s = kitaru.create_secret(name, values, private=private)
            out[label] = {{"name": name, "id": s.id, "private": s.private, "values": values}}
        print(json.dumps(out))
    """
    data = last_json(run1(py(team.env("alice"), code)))
    assert isinstance(data, dict)
    return data


# -------------------------------------------------------------------------- login


def test_login_keeps_only_a_token_in_a_private_file_and_status_shows_the_server(team: Team) -> None:
    main = team.main
    fresh = {n: team.root / "users" / f"{n}-{team.u}" for n in ("wrongpw", "ci", "logout")}
    key = main.api_key
    assert key
    # A saved token the server no longer accepts (expired, revoked, tampered).
    stale = team.root / "users" / f"stale-{team.u}"
    stale.mkdir(parents=True)
    stale_login = json.loads((team.dirs["bob"] / "server.json").read_text())
    stale_login["token"] = stale_login["token"][:-6] + "AAAAAA"
    (stale / "server.json").write_text(json.dumps(stale_login))
    wrong, status, status_json, ci_status, ci_list, relogin, rejected = run_all(
        cli(clean_env(KITARU_CONFIG_PATH=str(fresh["wrongpw"])), "login", main.url, "-u", "alice",
            "--stdin", input="not-the-password\n"),
        cli(team.env("alice"), "status"),
        cli(team.env("alice"), "status", "--json"),
        cli(clean_env(KITARU_CONFIG_PATH=str(fresh["ci"]), KITARU_SERVER_URL=main.url,
                      KITARU_API_KEY=key), "status", "--json"),
        cli(clean_env(KITARU_CONFIG_PATH=str(fresh["ci"]), KITARU_SERVER_URL=main.url,
                      KITARU_API_KEY=key), "secrets", "list", "--json"),
        cli(clean_env(KITARU_CONFIG_PATH=str(fresh["logout"])), "login", main.url, "-u", "bob",
            "--stdin", input=PASSWORDS["bob"] + "\n"),
        cli(clean_env(KITARU_CONFIG_PATH=str(stale)), "secrets", "list"),
    )  # fmt: skip

    # Login wrote one 0600 file holding a token, never the password.
    alice_dir = team.dirs["alice"]
    server_file = alice_dir / "server.json"
    assert stat.S_IMODE(server_file.stat().st_mode) == 0o600
    saved = json.loads(server_file.read_text())
    assert saved["url"] == main.url and saved["user"] == "alice" and saved["auth"] == "token"
    assert "password" not in saved and saved["token"]
    for path in alice_dir.rglob("*"):
        if path.is_file():
            assert PASSWORDS["alice"].encode() not in path.read_bytes(), path
            assert path.name != "credentials.yaml", "ZenML wrote its credentials cache"
            if saved["token"].encode() in path.read_bytes():
                assert path == server_file, f"token leaked into {path}"
    assert "Logged in to " + main.url + " as alice" in team.login_output["alice"]
    assert saved["token"] not in team.login_output["alice"]

    # A token the server rejects: one clear line that says to log in again.
    assert rejected.returncode == 1
    assert "rejected kitaru's session" in rejected.stderr
    assert f"kitaru login {main.url}" in rejected.stderr
    assert len(rejected.stderr.strip().splitlines()) == 1, rejected.stderr

    # A wrong password: clear error, non-zero exit, nothing saved.
    assert wrong.returncode == 1
    assert "rejected" in wrong.stderr and main.url in wrong.stderr
    assert "not-the-password" not in wrong.stdout + wrong.stderr
    assert not (fresh["wrongpw"] / "server.json").exists()

    # `kitaru status` names the server, the user and the store kind; no credential.
    text = ok(status).stdout
    assert "server" in text and main.url in text and "alice" in text
    assert saved["token"] not in text + status.stderr
    data = last_json(status_json)
    assert isinstance(data, dict)
    assert data["store"] == "server" and data["store_location"] == main.url
    assert data["user"] == "alice" and data["connection"] == "ok"

    # CI: KITARU_SERVER_URL + KITARU_API_KEY (service account), no login file at all.
    ci = last_json(ci_status)
    assert isinstance(ci, dict)
    assert ci["user"] == "ci-bot" and ci["connection"] == "ok" and "KITARU_API_KEY" in ci["auth"]
    assert key not in ci_status.stdout + ci_status.stderr
    assert isinstance(last_json(ci_list), list)
    assert not (fresh["ci"] / "server.json").exists()
    for path in fresh["ci"].rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path

    # Logout forgets the token and goes back to the local store.
    ok(relogin)
    assert (fresh["logout"] / "server.json").exists()
    logout = run1(cli(clean_env(KITARU_CONFIG_PATH=str(fresh["logout"])), "logout"))
    assert "Logged out of " + main.url in ok(logout).stdout
    assert not (fresh["logout"] / "server.json").exists()
    local = last_json(
        run1(cli(clean_env(KITARU_CONFIG_PATH=str(fresh["logout"])), "status", "--json"))
    )
    assert isinstance(local, dict) and local["store"] == "local"


# --------------------------------------------------------------------- visibility


def test_public_secret_is_shared_and_private_secret_is_invisible_to_bob(
    team: Team, shared: dict[str, dict[str, str]]
) -> None:
    pub, priv = shared["public"], shared["private"]
    bob = team.env("bob")
    listed, show_pub, show_priv, show_priv_id, delete_priv = run_all(
        cli(bob, "secrets", "list", "--json"),
        cli(bob, "secrets", "show", pub["name"], "--show-values", "--json"),
        cli(bob, "secrets", "show", priv["name"], "--show-values"),
        cli(bob, "secrets", "show", priv["id"], "--show-values"),
        cli(bob, "secrets", "delete", priv["id"]),
    )
    items = last_json(listed)
    assert isinstance(items, list)
    names = {s["name"]: s for s in items}
    assert pub["name"] in names and names[pub["name"]]["visibility"] == "public"
    assert priv["name"] not in names and priv["id"] not in listed.stdout

    data = last_json(show_pub)
    assert isinstance(data, dict)
    assert data["values"] == pub["values"] and data["owner"] == "alice"

    secret_value = priv["values"]["PRIVATE_TOKEN"]
    for result in (show_priv, show_priv_id, delete_priv):
        assert result.returncode == 1
        assert "not found" in result.stderr
        assert secret_value not in result.stdout + result.stderr
        assert "PRIVATE_TOKEN" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr


def test_bob_updates_alice_public_secret_without_changing_visibility(
    team: Team, shared: dict[str, dict[str, str]]
) -> None:
    sec = shared["team"]
    name = sec["name"]
    new_value = f"canary-bob-{uuid.uuid4().hex}"
    result = ok(
        run1(cli(team.env("bob"), "secrets", "set", name, "--private", f"--BOB_KEY={new_value}"))
    )
    assert f"Updated public secret '{name}' ({sec['id']})" in result.stdout
    assert "stays public" in result.stdout and new_value not in result.stdout

    code = f"""
        import json, kitaru
        from kitaru.errors import SecretVisibilityError
        name, sid = {name!r}, {sec["id"]!r}
        same = [s for s in kitaru.list_secrets() if s.name == name]
        s = kitaru.get_secret(name)
        out = {{"count": len(same), "ids": [x.id for x in same], "private": s.private,
               "values": s.values}}
        # Asking the server to make alice's secret private: refused for bob, and
        # mapped by type on both server backends.
        from kitaru._config.connection import server_url
        from kitaru._store.rest_backend import RestServerBackend
        from kitaru._store.zenml_backend import ZenMLBackend
        def make_private():
            from zenml.models import SecretUpdate
            import uuid
            from kitaru._zenml.client import get_client
            get_client().zen_store.update_secret(uuid.UUID(sid), SecretUpdate(private=True))
        out["visibility_change"] = []
        rest = RestServerBackend(server_url())
        try:
            rest._secret_call("PUT", "/secrets/" + sid, "update", name, json={{"private": True}})
            out["visibility_change"].append("allowed")
        except SecretVisibilityError as exc:
            out["visibility_change"].append(str(exc))
        try:
            ZenMLBackend(server_url(), server=True)._call("update", name, make_private)
            out["visibility_change"].append("allowed")
        except SecretVisibilityError as exc:
            out["visibility_change"].append(str(exc))
        print(json.dumps(out))
    """
    bob_view, alice_view = run_all(
        py(team.env("bob"), code),
        cli(team.env("alice"), "secrets", "show", name, "--show-values", "--json"),
    )
    data = last_json(bob_view)
    assert isinstance(data, dict)
    assert data["count"] == 1 and data["ids"] == [sec["id"]], "--private created a second secret"
    assert data["private"] is False
    assert data["values"] == {**sec["values"], "BOB_KEY": new_value}
    assert len(data["visibility_change"]) == 2
    assert all("only the user who created it" in c for c in data["visibility_change"])
    seen = last_json(alice_view)
    assert isinstance(seen, dict)
    assert seen["visibility"] == "public" and seen["id"] == sec["id"]
    assert seen["values"]["BOB_KEY"] == new_value
    assert seen["values"]["BASE_KEY"] == sec["values"]["BASE_KEY"]


def test_values_the_server_withholds_show_as_unavailable(team: Team) -> None:
    name = f"gated-{team.u}"
    values = {"GATED_A": f"canary-a-{uuid.uuid4().hex}", "GATED_B": f"canary-b-{uuid.uuid4().hex}"}
    created = last_json(run1(py(team.env("alice@rbac"), f"""
        import json, kitaru
        kitaru.create_secret({name!r}, {values!r})
        print(json.dumps(kitaru.get_secret({name!r}).values))  # the owner may read them
    """)))  # fmt: skip
    assert created == values

    bob = team.env("bob@rbac")
    show, show_json, sdk = run_all(
        cli(bob, "secrets", "show", name, "--show-values"),
        cli(bob, "secrets", "show", name, "--json"),
        py(
            bob,
            f"""
            import json, kitaru
            from kitaru.errors import SecretUnavailableError
            s = kitaru.get_secret({name!r})
            out = {{"keys": list(s.keys), "unavailable": list(s.unavailable_keys),
                   "values": s.values, "missing": s.get("NOT_A_KEY")}}
            try:
                s.get("GATED_A")
                out["error"] = None
            except SecretUnavailableError as exc:
                out["error"] = str(exc)
                out["error_key"] = exc.key
            print(json.dumps(out))
        """,
        ),
    )
    text = ok(show).stdout
    assert "GATED_A: unavailable" in text and "GATED_B: unavailable" in text
    data = last_json(show_json)
    assert isinstance(data, dict)
    assert data["unavailable_keys"] == ["GATED_A", "GATED_B"]
    out = last_json(sdk)
    assert isinstance(out, dict)
    assert out["keys"] == ["GATED_A", "GATED_B"]
    assert out["unavailable"] == ["GATED_A", "GATED_B"]
    assert out["values"] == {} and out["missing"] is None
    assert out["error_key"] == "GATED_A" and "unavailable" in out["error"]
    everything = show.stdout + show.stderr + show_json.stdout + sdk.stdout + sdk.stderr
    for value in values.values():
        assert value not in everything


# --------------------------------------------------------------------------- flows


FLOW_SCRIPT = """
import json
import sys

import kitaru
from kitaru import checkpoint, flow, get_secret
from kitaru.testing.openai_server import LocalOpenAIServer

NAME, EXPECTED_KEY = sys.argv[1], sys.argv[2]


@checkpoint
def use_creds() -> int:
    return len(get_secret(NAME)["SERVICE_TOKEN"])


@checkpoint
def ask() -> str:
    return kitaru.llm("hello team", model="team")


@flow
def team_flow() -> dict:
    return {"n": use_creds(), "answer": ask()}


with LocalOpenAIServer() as llm_server:
    # The alias links alice's public secret; its key reaches the provider per call.
    kitaru.register_model("team", "openai/demo", api_base=llm_server.base_url, secret=NAME)
    handle = team_flow.run()
    bearer_ok = [r.bearer_token == EXPECTED_KEY for r in llm_server.requests]

from kitaru._zenml.client import get_client

run = get_client().get_pipeline_run(handle.execution_id)
print(json.dumps({
    "id": handle.execution_id,
    "status": handle.status,
    "result": handle.wait(),
    "run_user": run.user.name if run.user else None,
    "reads": [r.to_json() for r in handle.secret_reads],
    "llm_bearer_ok": bearer_ok,
}))
"""


def test_flow_run_by_bob_reads_alice_public_secret_in_a_checkpoint(
    team: Team, shared: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    sec = shared["flow"]
    script = tmp_path / "team_flow.py"
    script.write_text(FLOW_SCRIPT)
    bob = {k: v for k, v in team.env("bob").items() if not k.startswith("OPENAI")}
    llm_key = sec["values"]["OPENAI_API_KEY"]
    result = run1(([sys.executable, str(script), sec["name"], llm_key], bob, None))
    data = last_json(result)
    assert isinstance(data, dict)
    token = sec["values"]["SERVICE_TOKEN"]
    assert data["status"] == "completed"
    assert data["result"] == {"n": len(token), "answer": "echo: hello team"}
    assert data["run_user"] == "bob"
    assert data["llm_bearer_ok"] == [True]  # kitaru.llm() got alice's key from the server
    reads = {(r["secret"], r["checkpoint"], tuple(r["keys"])) for r in data["reads"]}
    assert (sec["name"], "use_creds", ("SERVICE_TOKEN",)) in reads
    assert {r["secret"] for r in data["reads"]} == {sec["name"]}
    assert token not in result.stdout + result.stderr
    assert llm_key not in result.stdout + result.stderr

    # The audit is stored with bob's execution on the server.
    shown = last_json(run1(cli(bob, "executions", "show", data["id"], "--json")))
    assert isinstance(shown, dict)
    assert shown["id"] == data["id"] and shown["status"] == "completed"
    shown_reads = {(r["secret"], r["checkpoint"], tuple(r["keys"])) for r in shown["secret_reads"]}
    assert shown_reads == reads

    # The key of the replay fingerprints was created on first use in the server's
    # secret store (visible to the team, who may replay), not in bob's config dir.
    listed = last_json(run1(cli(team.env("alice"), "secrets", "list", "--json")))
    assert isinstance(listed, list)
    assert [s["keys"] for s in listed if s["name"] == "kitaru-fingerprint-key"] == [["KEY"]]
    assert not (team.dirs["bob"] / "fingerprint.key").exists()


# --------------------------------------------------------------------- concurrency

UPSERT_WORKER = """
import sys, time
from pathlib import Path
import kitaru
from kitaru._zenml.client import get_client

name, idx, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sync = Path(sys.argv[5])
get_client()
(sync / f"ready-{idx}").touch()
while not (sync / "go").exists():
    time.sleep(0.01)
for first in range(0, n, batch):
    kitaru.set_secret(name, {f"K_{idx}_{i}": f"v-{idx}-{i}" for i in range(first, first + batch)})
print("done", idx)
"""

# 8 writers x 50 keys, each writer in 10 upserts of 5 keys, all at once. (One key
# per upsert works too; it only takes 5x longer on this small test server.)
WORKERS, KEYS_EACH, BATCH = 8, 50, 5


def test_concurrent_upserts_keep_every_key_on_server_and_embedded_store(
    team: Team, shared: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    server_secret = shared["race"]["name"]
    local_dir = tmp_path / "local-store"
    local_env = clean_env(KITARU_CONFIG_PATH=str(local_dir))
    local_secret = f"race-local-{team.u}"
    ok(
        run1(
            py(local_env, f"import kitaru; kitaru.create_secret({local_secret!r}, {{'INIT': 'x'}})")
        )
    )

    worker = tmp_path / "upsert_worker.py"
    worker.write_text(UPSERT_WORKER)
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = []
    for idx in range(2 * WORKERS):
        if idx < WORKERS:  # server: half of the writers are alice, half bob
            env = team.env("alice" if idx % 2 else "bob")
            name = server_secret
        else:
            env, name = local_env, local_secret
        args = [sys.executable, str(worker), name, str(idx), str(KEYS_EACH), str(BATCH), str(sync)]
        procs.append(_start(args, env))
    deadline = time.monotonic() + TIMEOUT
    while len(list(sync.glob("ready-*"))) < len(procs):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() in (None, 0) for p in procs), [
            _finish(p).stderr for p in procs if p.poll()
        ]
        time.sleep(0.05)
    (sync / "go").touch()
    for proc in procs:
        ok(_finish(proc))

    expected_server = {"INIT"} | {f"K_{i}_{k}" for i in range(WORKERS) for k in range(KEYS_EACH)}
    expected_local = {"INIT"} | {
        f"K_{i}_{k}" for i in range(WORKERS, 2 * WORKERS) for k in range(KEYS_EACH)
    }
    check = """
        import json, sys, kitaru
        from kitaru._zenml.client import get_client, server_url
        s = kitaru.get_secret(sys.argv[1])
        leases = []
        if server_url():
            leases = [t.name for t in get_client().list_tags(name="startswith:kitaru-lock-").items]
        print(json.dumps({"values": s.values, "leases": leases}))
    """
    on_server, on_local = run_all(
        ([sys.executable, "-c", textwrap.dedent(check), server_secret], team.env("alice"), None),
        ([sys.executable, "-c", textwrap.dedent(check), local_secret], local_env, None),
    )
    server_data, local_data = last_json(on_server), last_json(on_local)
    assert isinstance(server_data, dict) and isinstance(local_data, dict)
    server_values, local_values = server_data["values"], local_data["values"]
    assert server_data["leases"] == [], "a write lease was left behind on the server"
    assert set(server_values) == expected_server, (
        f"lost on server: {sorted(expected_server - set(server_values))[:20]}"
    )
    assert set(local_values) == expected_local, (
        f"lost locally: {sorted(expected_local - set(local_values))[:20]}"
    )
    assert all(
        server_values[f"K_{i}_{k}"] == f"v-{i}-{k}"
        for i in range(WORKERS)
        for k in range(KEYS_EACH)
    )


# ----------------------------------------------------------------- server failure


def test_server_going_away_mid_command_is_a_clear_error_and_changes_nothing(
    team: Team, shared: dict[str, dict[str, str]]
) -> None:
    sec = shared["gone"]
    key = team.main.api_key
    assert key
    new_name = f"never-created-{team.u}"
    put_cut = CutProxy(team.main.port, b"PUT /api/v1/secrets/")
    post_cut = CutProxy(team.main.port, b"POST /api/v1/secrets")
    try:

        def env(proxy: CutProxy, d: str) -> dict[str, str]:
            return clean_env(
                KITARU_CONFIG_PATH=str(team.root / "users" / f"{d}-{team.u}"),
                KITARU_SERVER_URL=proxy.url,
                KITARU_API_KEY=key,
            )

        update, create = run_all(
            cli(env(put_cut, "ci-put"), "secrets", "set", sec["name"], "--K=value-after"),
            cli(env(post_cut, "ci-post"), "secrets", "set", new_name, "--K=value-new"),
        )
        assert put_cut.triggered.is_set() and post_cut.triggered.is_set()
        # And a command started while the server is already gone.
        later = run1(cli(env(put_cut, "ci-put"), "secrets", "list"))
    finally:
        put_cut.close()
        post_cut.close()

    for result, proxy in ((update, put_cut), (create, post_cut), (later, put_cut)):
        assert result.returncode == 1, result.stderr
        assert f"Cannot reach the kitaru/ZenML server at {proxy.url}" in result.stderr
        assert "Traceback" not in result.stderr and "value-after" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr

    data = last_json(run1(py(team.env("alice"), f"""
        import json, kitaru
        new = [s.name for s in kitaru.list_secrets() if s.name == {new_name!r}]
        print(json.dumps({{"values": kitaru.get_secret({sec["name"]!r}).values, "new": new}}))
    """)))  # fmt: skip
    assert isinstance(data, dict)
    assert data["values"] == {"K": "value-before"}
    assert data["new"] == []


# ------------------------------------------------------------------ encryption


def test_server_secrets_are_encrypted_at_rest(
    team: Team, shared: dict[str, dict[str, str]]
) -> None:
    with urllib.request.urlopen(f"{team.main.url}/api/v1/info", timeout=10) as resp:
        info = json.loads(resp.read())
    assert info["secrets_store_type"] == "sql"

    canaries = [
        v for sec in shared.values() for v in sec["values"].values() if v.startswith("canary")
    ]
    assert len(canaries) >= 4
    blobs = b"".join(
        p.read_bytes() for p in team.main.root.iterdir() if p.name.startswith("zenml.db")
    )
    for canary in canaries:
        assert canary.encode() not in blobs
        assert base64.b64encode(canary.encode()) not in blobs

    # ZENML_SERVER=true: the server writes no config file holding its key.
    for path in team.main.root.rglob("*"):
        if path.is_file() and not path.name.startswith("zenml.db"):
            assert team.main.encryption_key.encode() not in path.read_bytes(), path

    con = sqlite3.connect(f"file:{team.main.db}?mode=ro", uri=True)
    try:
        rows = con.execute('SELECT name, "values" FROM secret').fetchall()
    finally:
        con.close()
    names = {sec["name"] for sec in shared.values()}
    stored = {name: raw for name, raw in rows if name in names}
    assert set(stored) == names
    for name, raw in stored.items():
        raw_bytes = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            decoded = base64.b64decode(raw_bytes, validate=True)
        except ValueError:
            continue  # not even base64: ciphertext in another encoding
        try:
            json.loads(decoded)
        except ValueError:
            continue  # base64 of ciphertext, as ZenML's AES-GCM engine stores it
        pytest.fail(f"secret {name!r} is stored as plain base64 JSON on the server")


def test_no_credential_in_the_environment_of_a_flow_process(team: Team) -> None:
    """kitaru hands credentials to ZenML in memory; os.environ never holds them."""
    code = """
        import json, os, kitaru
        kitaru.list_secrets()
        print(json.dumps(sorted(k for k in os.environ if k.startswith(("ZENML_STORE", "KITARU_API"))
                         or "TOKEN" in k or "PASSWORD" in k)))
    """
    names = last_json(run1(py(team.env("bob"), code)))
    assert names == []
    assert os.environ.get("KITARU_SERVER_URL") is None  # the test session stays local


# ------------------------------------------------------------- fresh-process runs


def test_flow_runs_in_a_fresh_process_against_the_server(
    team: Team, fresh_python: Path, openai_server: Any, tmp_path: Path
) -> None:
    """The fresh-process scenario of test_remote_orchestrator.py, on the server.

    The orchestrator's process gets only what ZenML hands over (the server URL and
    a run token); it reads alice's secret from the server and writes the audit there.
    """
    from _remote import check_scenario, create_stack, project, scan, scenario

    env = team.env("alice")
    proj = project(tmp_path / "proj")
    workdir = tmp_path / "runs"
    stack = f"fresh-{team.u}"
    create_stack(env, stack, fresh_python, workdir)
    run, guard = scenario(env, proj, stack, openai_server.base_url, team.u)
    check_scenario(run, guard, fresh_python)
    scan([team.dirs["alice"], workdir, team.main.db.parent], run["canaries"])
