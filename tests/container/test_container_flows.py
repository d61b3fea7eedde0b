"""kitaru flows in real containers through ZenML's ``local_docker`` orchestrator.

A user's project (a flows module and a driver script, in a folder of their own)
registers a stack as ``kitaru stack create --orchestrator local_docker --image
IMAGE`` does (host networking, so the container reaches the LLM server and the
ZenML server on 127.0.0.1; asynchronous) and runs a flow of two checkpoints on it: ``ask`` calls
``kitaru.llm()`` through an alias whose key comes from a linked secret, and
``use_token`` reads the secret with ``get_secret``. On the embedded store and on a
real ZenML server:

- the flow completes in the container (the image's venv, ZenML's code
  directory); its secret reads and its LLM call are on the run;
- when ``use_token`` raises, ``handle.wait()`` raises ``FlowFailedError`` (the
  stack's ``local_docker`` is asynchronous, so both runs go at once);
- a replay on the same stack re-runs only ``use_token`` and reads the secret
  afresh;
- no canary value in any file written (config directory, artifact store,
  server database) nor in the containers' ``docker logs``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from _docker import Daemon
from _team_server import clean_env
from conftest import files_containing

from container._support import LoggedIn, take_containers

pytestmark = pytest.mark.container

FLOWS = """
import os
import sys

import kitaru


@kitaru.checkpoint
def ask(alias: str, marker: str) -> str:
    return kitaru.llm(f"{marker} say hi", model=alias)


@kitaru.checkpoint
def use_token(secret: str) -> dict:
    token = kitaru.get_secret(secret)["TOKEN"]
    if token.startswith("fail-"):
        raise RuntimeError("planned failure in use_token")
    return {"token_length": len(token), "prefix": sys.prefix, "cwd": os.getcwd(),
            "pid": os.getpid()}


@kitaru.flow
def container_job(secret: str, alias: str, marker: str) -> dict:
    reply = ask(alias, marker)
    return {"reply": reply, "token": use_token(secret), "pid": os.getpid()}
"""

DRIVER = """
import json
import os
import sys

import kitaru
from kitaru._zenml import runs, stacks

import container_flows as flows

cfg = json.loads(sys.argv[1])
secret, failing, alias, stack = cfg["secret"], cfg["failing_secret"], cfg["alias"], cfg["stack"]


def tokens(value):
    return {"TOKEN": value, "OPENAI_API_KEY": cfg["api_key"]}


# What `kitaru stack create NAME --orchestrator local_docker --image IMAGE
# --option 'run_args={"network_mode": "host"}' --option synchronous=false` does.
info = stacks.create_stack(stack, "local_docker", image=cfg["image"], options={
    "run_args": json.dumps({"network_mode": "host"}), "synchronous": "false"})
assert info["image"] == cfg["image"], info
kitaru.set_secret(secret, tokens(cfg["good"]))
kitaru.set_secret(failing, tokens(cfg["failing"]))
kitaru.register_model(alias, "openai/container-test", secret=secret, api_base=cfg["api_base"])
out = {"caller_pid": os.getpid()}

# The stack's local_docker is asynchronous: .run() returns once the container
# is started, so both runs go at once.
ok = flows.container_job.run(secret, alias, cfg["marker"] + "-ok", stack=stack)
bad = flows.container_job.run(failing, alias, cfg["marker"] + "-fail", stack=stack)
out["status_at_submit"] = [ok.status, bad.status]
out["ok"] = {"id": ok.execution_id, "result": ok.wait(timeout=600),
             "record": runs.kitaru_record(ok.execution_id)}
try:
    bad.wait(timeout=600)
    out["failed"] = {"error": None}
except kitaru.FlowFailedError as exc:
    out["failed"] = {"error": type(exc).__name__, "text": str(exc), "checkpoint": exc.checkpoint}
out["failed"]["status"] = bad.status

kitaru.set_secret(failing, tokens(cfg["rotated"]))
again = flows.container_job.replay(bad.execution_id, stack=stack)
out["replay"] = {"result": again.wait(timeout=600)}
ex = kitaru.get_execution(again.execution_id)
out["replay"]["reused"] = sorted(c.id for c in ex.checkpoints if c.reused_from)
out["replay"]["ran"] = sorted(c.id for c in ex.checkpoints if not c.reused_from)
out["replay"]["reads"] = [dict(r) for r in ex.secret_reads]
print("RESULT " + json.dumps(out))
"""


def scenario(
    daemon: Daemon, image: str, config: Path, proj: Path, openai_server: Any
) -> tuple[dict[str, Any], list[str], str]:
    """Run the flow (ok, failing, replayed) from a user's project; (result, canaries, logs)."""
    proj.mkdir(parents=True)
    (proj / "container_flows.py").write_text(FLOWS)
    (proj / "driver.py").write_text(DRIVER)
    env = daemon.env(clean_env(KITARU_CONFIG_PATH=str(config)))
    unique = uuid.uuid4().hex[:8]
    cfg = {
        "image": image,
        "secret": f"box-creds-{unique}",
        "failing_secret": f"box-failing-{unique}",
        "alias": f"box-llm-{unique}",
        "stack": f"box-{unique}",
        "marker": f"marker-{unique}",
        "api_base": openai_server.base_url,
        "api_key": f"canary-sk-{uuid.uuid4().hex}",
        "good": f"canary-good-{uuid.uuid4().hex}",
        "failing": f"fail-canary-{uuid.uuid4().hex}",
        "rotated": f"canary-rotated-{uuid.uuid4().hex}-longer",
    }
    proc = subprocess.run(
        [sys.executable, "driver.py", json.dumps(cfg)],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    containers = take_containers_with_logs(daemon, image)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out: dict[str, Any] = json.loads(line[len("RESULT ") :])
    out["cfg"] = cfg
    out["containers"] = containers
    canaries = [cfg["api_key"], cfg["good"], cfg["failing"], cfg["rotated"]]
    return out, canaries, "\n".join(c["logs"] for c in containers)


def take_containers_with_logs(daemon: Daemon, image: str) -> list[dict[str, Any]]:
    """``docker logs`` and exit code of each container of ``image``; then remove them."""
    ids = daemon.containers(f"ancestor={image}")
    logs = {}
    for cid in ids:
        res = subprocess.run(
            [daemon.cli, "logs", cid], env=daemon.env(), capture_output=True, text=True, timeout=60
        )
        logs[cid] = res.stdout + res.stderr
    info = take_containers(daemon, image)
    return [
        {"id": c["Id"], "exit": c["State"]["ExitCode"], "logs": logs.get(c["Id"], "")} for c in info
    ]


def check_scenario(out: dict[str, Any], openai_server: Any) -> None:
    cfg = out["cfg"]
    # Submitted, not finished, when .run() returned.
    assert set(out["status_at_submit"]) <= {"initializing", "provisioning", "running"}
    ok = out["ok"]
    result = ok["result"]
    # Ran in the container: the image's venv, ZenML's code directory, another process.
    assert result["token"]["prefix"] == "/opt/venv"
    assert result["token"]["cwd"] == "/app/code"
    assert result["token"]["token_length"] == len(cfg["good"])
    assert result["reply"] == f"echo: {cfg['marker']}-ok say hi"
    record = ok["record"]
    # use_token's get_secret and the key ask's LLM call took from the linked secret.
    assert {(r["secret"], r["checkpoint"]) for r in record["secret_reads"]} == {
        (cfg["secret"], "ask"),
        (cfg["secret"], "use_token"),
    }
    [call] = record["llm_calls"]
    assert call["model"] == "openai/container-test" and call["credential_source"] == "secret"
    # The container called the host's LLM server with the linked secret's key.
    asked = [r for r in openai_server.requests if f"{cfg['marker']}-ok" in json.dumps(r.body)]
    assert [r.bearer_token for r in asked] == [cfg["api_key"]]

    failed = out["failed"]
    assert failed["error"] == "FlowFailedError" and failed["status"] == "failed"
    assert "planned failure in use_token" in failed["text"]
    assert failed["checkpoint"] == "use_token"

    replay = out["replay"]
    assert replay["reused"] == ["ask"] and replay["ran"] == ["use_token"]
    assert replay["result"]["token"]["token_length"] == len(cfg["rotated"])
    assert replay["result"]["reply"] == f"echo: {cfg['marker']}-fail say hi"
    assert {(r["secret"], r["checkpoint"]) for r in replay["reads"]} == {
        (cfg["failing_secret"], "use_token")
    }

    # One container per run (ok, failed, replay); the failed one exited non-zero.
    assert sorted(c["exit"] != 0 for c in out["containers"]) == [False, False, True]


def scan(roots: list[Path], canaries: list[str], logs: str) -> None:
    for root in roots:
        files, hits = files_containing(root, canaries)
        assert files > 0 and hits == [], hits
    assert logs.strip(), "the containers wrote no logs at all"
    assert [c for c in canaries if c in logs] == []


def test_flow_in_container_on_embedded_store(
    docker_daemon: Daemon, kitaru_image: str, openai_server: Any, tmp_path: Path
) -> None:
    config = tmp_path / "kitaru-config"
    out, canaries, logs = scenario(
        docker_daemon, kitaru_image, config, tmp_path / "proj", openai_server
    )
    check_scenario(out, openai_server)
    scan([config], canaries, logs)


def test_flow_in_container_on_server(
    docker_daemon: Daemon,
    kitaru_image: str,
    zenml_server: LoggedIn,
    openai_server: Any,
    tmp_path: Path,
) -> None:
    out, canaries, logs = scenario(
        docker_daemon, kitaru_image, zenml_server.config, tmp_path / "proj", openai_server
    )
    check_scenario(out, openai_server)
    scan([zenml_server.server.root, zenml_server.config], canaries, logs)
