"""Durability: replay of a failed execution, retries, and checkpoints run in a fresh process."""

from __future__ import annotations

import base64
import json
import textwrap
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, files_containing, run_cli

import kitaru
from kitaru import errors

SIDE_EFFECTS: list[int] = []
CONTROL: dict[str, Any] = {"fail_at": None, "secret": ""}


@kitaru.checkpoint
def stage(i: int, acc: int) -> int:
    SIDE_EFFECTS.append(i)
    if CONTROL["fail_at"] == i:
        raise RuntimeError(f"stage {i} failed")
    value = kitaru.get_secret(CONTROL["secret"]).get("TOKEN") or ""
    # Derived from the credential, never the credential itself.
    return acc + i + (1000 if value.endswith("rotated") else 0)


@kitaru.flow
def five_stages(n: int) -> int:
    acc = 0
    for i in range(1, n + 1):
        acc = stage(i, acc)
    return acc


@kitaru.flow(name="five_stages")
def five_stages_reshaped(n: int) -> int:
    acc = 0
    for i in range(1, n + 1):
        acc = stage(i * 7, acc)
    return acc


def _reset(secret: str, fail_at: int | None) -> None:
    SIDE_EFFECTS.clear()
    CONTROL.update(fail_at=fail_at, secret=secret)


def test_replay_reuses_completed_checkpoints_and_reads_rotated_secret(unique: str) -> None:
    secret = f"replay-{unique}"
    old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}-rotated"
    kitaru.set_secret(secret, {"TOKEN": old})

    _reset(secret, fail_at=3)
    failed = five_stages.run(5)
    assert failed.status == "failed"
    assert isinstance(failed.error, RuntimeError) and "stage 3 failed" in str(failed.error)
    assert SIDE_EFFECTS == [1, 2, 3]

    kitaru.set_secret(secret, {"TOKEN": new})  # rotate between the failure and the replay
    _reset(secret, fail_at=None)
    replayed = five_stages.replay(str(failed.execution_id))
    assert replayed.status == "completed", replayed.error
    assert SIDE_EFFECTS == [3, 4, 5], "checkpoints 1-2 must not run again"
    # 1 and 2 come from the original run (old key), 3-5 saw the rotated key.
    assert replayed.wait() == (1 + 2) + (3 + 4 + 5) + 3 * 1000

    ex = kitaru.get_execution(str(replayed.execution_id))
    assert ex.replayed_from == failed.execution_id
    status = {c.id: (c.status, c.reused_from) for c in ex.checkpoints}
    assert status["stage"][0] == "skipped" and status["stage"][1] is not None
    assert status["stage_2"][0] == "skipped" and status["stage_2"][1] is not None
    assert all(status[i] == ("completed", None) for i in ("stage_3", "stage_4", "stage_5"))

    # A clean run with the rotated key computes the same for the re-run part.
    _reset(secret, fail_at=None)
    clean = five_stages(5)
    assert clean == (1 + 2 + 3 + 4 + 5) + 5 * 1000
    assert replayed.wait() == clean - 2 * 1000

    listed = {e.id: e for e in kitaru.list_executions(limit=10, flow="five_stages")}
    assert listed[str(replayed.execution_id)].replayed_from == failed.execution_id
    assert listed[str(failed.execution_id)].status == "failed"


def test_replay_of_a_reshaped_flow_is_refused(unique: str) -> None:
    secret = f"reshape-{unique}"
    kitaru.set_secret(secret, {"TOKEN": f"v-{uuid.uuid4().hex}"})
    _reset(secret, fail_at=2)
    failed = five_stages.run(3)
    assert failed.status == "failed"

    _reset(secret, fail_at=None)
    handle = five_stages_reshaped.replay(str(failed.execution_id))
    assert handle.status == "failed"
    assert isinstance(handle.error, kitaru.ReplayError)
    assert "changed shape" in str(handle.error) and "stage" in str(handle.error)
    assert SIDE_EFFECTS == [], "nothing may run once the shapes disagree"
    with pytest.raises(kitaru.ReplayError):
        handle.wait()


def test_replay_of_another_flow_or_unknown_id_is_refused() -> None:
    with pytest.raises(kitaru.ExecutionNotFoundError):
        five_stages.replay(str(uuid.uuid4()))

    @kitaru.flow
    def other_flow() -> int:
        return 1

    h = other_flow.run()
    with pytest.raises(kitaru.ReplayError, match="belongs to flow 'other_flow'"):
        five_stages.replay(str(h.execution_id))


LLM_CONTROL = {"fail": True}


@kitaru.checkpoint
def after_plan(plan: str) -> str:
    if LLM_CONTROL["fail"]:
        raise RuntimeError("downstream failure")
    return plan.upper()


def test_flow_body_llm_call_is_not_sent_again_on_replay(openai_server: Any, unique: str) -> None:
    secret = f"llm-replay-{unique}"
    key = f"sk-{uuid.uuid4().hex}"
    kitaru.set_secret(secret, {"OPENAI_API_KEY": key})
    alias = f"rp{unique}"
    kitaru.register_model(
        alias, "openai/replay-model", secret=secret, api_base=openai_server.base_url
    )
    marker = f"marker-{unique}"

    @kitaru.flow(name=f"llm_replay_{unique}")
    def planner() -> str:
        plan = kitaru.llm(f"plan {marker}", model=alias, name="plan")
        return after_plan(plan)

    def sent() -> int:
        return sum(1 for r in openai_server.requests if marker in json.dumps(r.body))

    try:
        LLM_CONTROL["fail"] = True
        failed = planner.run()
        assert failed.status == "failed" and sent() == 1

        LLM_CONTROL["fail"] = False
        replayed = planner.replay(str(failed.execution_id))
        assert replayed.wait() == f"ECHO: PLAN {marker}".upper()
        assert sent() == 1, "the recorded response must be reused, not requested again"
        ex = kitaru.get_execution(str(replayed.execution_id))
        reused = {c.id for c in ex.checkpoints if c.reused_from}
        assert reused == {"llm_plan"}
    finally:
        kitaru.remove_model(alias)


def test_cli_replay_imports_the_flow_from_its_script(tmp_path: Path) -> None:
    flag = tmp_path / "fail.flag"
    effects = tmp_path / "effects.txt"
    script = tmp_path / "durable_job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os
            import kitaru

            @kitaru.checkpoint
            def step(i: int, acc: int) -> int:
                with open({str(effects)!r}, "a") as fh:
                    fh.write(f"{{i}}\\n")
                if i == 2 and os.path.exists({str(flag)!r}):
                    raise RuntimeError("boom")
                return acc + i

            @kitaru.flow
            def cli_job(n: int) -> int:
                acc = 0
                for i in range(1, n + 1):
                    acc = step(i, acc)
                return acc

            if __name__ == "__main__":
                handle = cli_job.run(3)
                print(handle.execution_id)
            """
        )
    )
    flag.touch()
    import subprocess

    out = subprocess.run(
        [PYTHON, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    execution_id = out.stdout.strip().splitlines()[-1]
    assert effects.read_text().split() == ["1", "2"]

    flag.unlink()
    effects.write_text("")
    res = run_cli("executions", "replay", execution_id, "--json", timeout=300)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["status"] == "completed" and data["replayed_from"] == execution_id
    assert data["reused"] == ["step"]
    assert effects.read_text().split() == ["2", "3"], "the script's main block must not rerun"

    bad = run_cli("executions", "replay", str(uuid.uuid4()))
    assert bad.returncode != 0 and bad.stderr.startswith("Error:") and "not found" in bad.stderr


ATTEMPTS: list[str] = []


@kitaru.checkpoint(retries=3, retry_delay=0.01)
def flaky_reader(secret: str) -> int:
    value = kitaru.get_secret(secret).get("TOKEN") or ""
    ATTEMPTS.append(value)
    attempt = kitaru.current_execution().attempt
    if attempt == 2:
        kitaru.set_secret(secret, {"TOKEN": value + "-rotated"})
    if attempt < 3:
        raise RuntimeError("transient")
    return len(value)


def test_retries_record_attempts_and_reread_only_rotated_secrets(unique: str) -> None:
    secret = f"retry-{unique}"
    first = f"tok-{uuid.uuid4().hex}"
    kitaru.set_secret(secret, {"TOKEN": first})
    ATTEMPTS.clear()

    @kitaru.flow(name=f"retry_flow_{unique}")
    def retry_flow() -> int:
        return flaky_reader(secret)

    handle = retry_flow.run()
    assert handle.wait() == len(first) + len("-rotated")
    # Attempt 2 reused the cached read (store unchanged); attempt 3 saw the rotation.
    assert ATTEMPTS == [first, first, first + "-rotated"]
    ex = kitaru.get_execution(str(handle.execution_id))
    assert [(c.id, c.attempts) for c in ex.checkpoints] == [("flaky_reader", 3)]


def _forms(value: str) -> list[bytes]:
    raw = value.encode()
    return [
        raw,
        base64.b64encode(raw).rstrip(b"="),
        urllib.parse.quote(value, safe="").encode(),
    ]


def test_canary_scan_after_replays(config_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Nothing written by the flows above holds a credential they read."""
    canary = f"canary-{uuid.uuid4().hex}"
    name = f"scan-{uuid.uuid4().hex[:8]}"
    kitaru.set_secret(name, {"TOKEN": canary})
    _reset(name, fail_at=2)
    failed = five_stages.run(3)
    _reset(name, fail_at=None)
    assert five_stages.replay(str(failed.execution_id)).status == "completed"
    captured = capfd.readouterr()
    assert canary not in captured.out + captured.err
    # Read in a separate process: reading the live SQLite files here would drop
    # this process's locks on them (see files_containing).
    files, hits = files_containing(config_path, _forms(canary))
    assert files > 0 and hits == []


def test_cli_replay_of_a_script_with_a_top_level_read_explains_before_running(
    tmp_path: Path, unique: str
) -> None:
    secret = f"top-level-{unique}"
    kitaru.set_secret(secret, {"TOKEN": "t-" + unique})
    script = tmp_path / "top_reader.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import kitaru

            TOKEN = kitaru.get_secret({secret!r})["TOKEN"]

            @kitaru.checkpoint
            def fails() -> int:
                raise RuntimeError("first run fails")

            @kitaru.flow
            def top_job() -> int:
                return fails()

            if __name__ == "__main__":
                print(top_job.run().execution_id)
            """
        )
    )
    import subprocess

    out = subprocess.run(
        [PYTHON, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    execution_id = out.stdout.strip().splitlines()[-1]
    before = {e.id for e in kitaru.list_executions(limit=1000)}

    res = run_cli("executions", "replay", execution_id, timeout=300)
    assert res.returncode == 1
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error:")
    assert "top_reader" in line and "top_reader.py:4" in line and secret in line
    assert "move it into the flow or a checkpoint" in line
    assert "kitaru_replayed_script" not in line
    assert {e.id for e in kitaru.list_executions(limit=1000)} == before  # nothing ran


def test_a_flow_started_while_a_module_is_imported_is_refused(tmp_path: Path) -> None:
    (tmp_path / "starts_on_import.py").write_text(
        textwrap.dedent(
            """
            import kitaru

            @kitaru.flow
            def eager() -> int:
                return 1

            eager.run()
            """
        )
    )
    import importlib
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(kitaru.ImportTimeSecretError) as info:
            importlib.import_module("starts_on_import")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("starts_on_import", None)
    err = info.value
    assert err.module == "starts_on_import" and err.lineno == 8
    assert "Flow 'eager' was started while module 'starts_on_import'" in str(err)
    assert type(err) is errors.ImportTimeFlowStartError and isinstance(err, errors.ImportTimeError)
    assert err.flow == "eager" and err.secret is None
