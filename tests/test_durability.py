"""Surviving a crash: real flow processes killed with real signals, then retried in place.

Every test runs ``python research_flow.py TAG`` (one flow over five
checkpoints, see ``_durability_support``) in a real process, kills it with
SIGKILL or SIGTERM while checkpoint 3 runs (or at random points), and drives
``kitaru executions list/show/retry/recover`` (the real CLI) or the Python API
in other processes. Marker files written by the checkpoint bodies say which
bodies ran and how often, independently of what the store says.

The module has a store of its own (not the session's), since ``recover``
retries every crashed execution of its store. Random kill points are in
``test_durability_fuzz.py``; the same scenario on a ZenML server and on the
fresh-process orchestrator is in ``test_durability_remote.py``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _durability_support import (
    STEPS,
    Project,
    assert_ran_once_except,
    crash_all_at,
    kill_held_at_step3,
    one_line_error,
    own_store_env,
    project_at,
    result_line,
    wait_crashed,
    wait_for_mark,
)


@pytest.fixture(scope="module")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every process of this module: its own embedded store."""
    return own_store_env(tmp_path_factory.mktemp("durability") / "kitaru-config")


@pytest.fixture
def proj(tmp_path: Path, store_env: dict[str, str]) -> Iterator[Project]:
    with project_at(tmp_path / "proj", store_env) as p:
        yield p


def crash_at_step3(proj: Project, tag: str) -> tuple[str, float]:
    """Start the flow, SIGKILL it once checkpoint 3 started; returns (execution ID, kill time)."""
    ids, killed = crash_all_at(proj, (tag,))
    return ids[tag], killed[tag]


def checkpoint_statuses(show: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in show["checkpoints"]}


# --------------------------------------------------------------------- SIGKILL, retry


def test_sigkill_at_checkpoint_3_is_crashed_and_retry_continues_the_same_execution(
    proj: Project,
) -> None:
    tag = "main"
    execution_id, killed_at = crash_at_step3(proj, tag)
    assert proj.counts(tag) == {"step1": 1, "step2": 1, "step3": 1}

    seen_after = wait_crashed(proj, execution_id, killed_at)
    assert seen_after <= 10.0
    rows = proj.list()
    assert [r["id"] for r in rows] == [execution_id], "exactly one execution of the flow"
    crashed = proj.kitaru(
        "executions", "list", "--flow", proj.flow, "--status", "crashed", "--json"
    )
    assert crashed.returncode == 0, crashed.stderr
    assert [r["id"] for r in json.loads(crashed.stdout)] == [execution_id]

    shown = proj.show(execution_id)
    assert shown["id"] == execution_id and shown["status"] == "crashed"
    # The record was written as the run went: checkpoints 1-2 are in the store as completed.
    statuses = checkpoint_statuses(shown)
    assert statuses.get("step1") == "completed" and statuses.get("step2") == "completed"
    assert "step4" not in statuses and "step5" not in statuses
    assert statuses.get("step3") != "completed"

    res = proj.kitaru("executions", "retry", execution_id)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"

    done = proj.show(execution_id)
    assert done["id"] == execution_id and done["status"] == "completed"
    assert list(dict.fromkeys(c["name"] for c in done["checkpoints"])) == list(STEPS)
    final = {c["name"]: c for c in done["checkpoints"]}  # the last record per checkpoint
    assert all(c["status"] == "completed" for c in final.values()), done["checkpoints"]
    assert all(c["attempts"] == 1 for c in done["checkpoints"] if c["name"] != "step3")
    # Checkpoint 3 had started but not finished at the kill: it ran again, and only it.
    assert_ran_once_except(proj.counts(tag), "step3", exact=True)
    assert proj.execution_ids(tag) == {execution_id}, "the retry is the same execution"
    assert [r["id"] for r in proj.list()] == [execution_id], "a retry is not a new execution"

    again = proj.kitaru("executions", "retry", execution_id)
    assert again.returncode == 0, again.stderr
    assert "nothing to retry" in (again.stdout + again.stderr).lower()
    assert_ran_once_except(proj.counts(tag), "step3", exact=True)
    assert proj.show(execution_id)["status"] == "completed"


def test_retry_of_a_live_execution_is_refused_and_a_slow_checkpoint_is_not_a_crash(
    proj: Project,
) -> None:
    tag = "slow"
    hold = proj.hold_file(tag)
    hold.touch()
    proc = proj.start(tag)
    execution_id = wait_for_mark(proj, tag, "step3", proc)
    began = time.monotonic()

    refused = proj.kitaru("executions", "retry", execution_id)
    assert refused.returncode == 2, f"exit {refused.returncode}\n{refused.stderr}"
    line = one_line_error(refused)
    assert execution_id[:8] in line or "running" in line.lower(), line
    # Well past the crash window, the runner is alive: the execution is still running.
    time.sleep(max(0.0, 12.0 - (time.monotonic() - began)))
    rows = {r["id"]: r["status"] for r in proj.list()}
    assert rows[execution_id] == "running"
    assert proc.poll() is None
    assert proj.counts(tag) == {"step1": 1, "step2": 1, "step3": 1}, "the refusal ran nothing"

    hold.unlink()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert result_line(out) == {"result": list(STEPS)}
    assert proj.show(execution_id)["status"] == "completed"
    assert_ran_once_except(proj.counts(tag), None, exact=False)


# ------------------------------------------------------------------------ Python API

API_DRIVER = """
import json
import sys

import kitaru
import kitaru.executions

import research_flow

ids = json.loads(sys.argv[1])
out = {}
handle = kitaru.FlowHandle(research_flow.research.flow_name, ids["flow_retry"])
out["status_before"] = handle.status
try:
    handle.wait(timeout=120)
    out["wait_error"] = None
except kitaru.FlowFailedError as exc:
    out["wait_error"] = str(exc)

retried = research_flow.research.retry(ids["flow_retry"])
out["flow_retry"] = {"id": retried.execution_id, "result": retried.wait(timeout=600),
                     "status": retried.status}
retried = kitaru.executions.retry(ids["api_retry"])
out["api_retry"] = {"id": retried.execution_id, "result": retried.wait(timeout=600),
                    "status": retried.status}
kitaru.recover()
print("RESULT " + json.dumps(out))
"""


def test_python_api_retries_in_place_and_a_crashed_handle_says_how_to_retry(
    proj: Project,
) -> None:
    tags = ("flow_retry", "api_retry", "recovered")
    ids, _ = crash_all_at(proj, tags)
    assert len(set(ids.values())) == 3

    driver = proj.root / "api_driver.py"
    driver.write_text(API_DRIVER)
    res = subprocess.run(
        [sys.executable, str(driver), json.dumps(ids)],
        cwd=proj.root, env=proj.env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr[-4000:]}"
    out = result_line(res.stdout)

    assert out["status_before"] == "crashed"
    error = out["wait_error"]
    assert error is not None, "wait() of a crashed execution returned instead of raising"
    assert "crashed" in error and "kitaru executions retry" in error, error
    for tag in ("flow_retry", "api_retry"):
        assert out[tag] == {"id": ids[tag], "result": list(STEPS), "status": "completed"}
    # kitaru.recover() retried the third crashed execution, in place.
    for tag in tags:
        assert proj.show(ids[tag])["status"] == "completed", tag
        assert_ran_once_except(proj.counts(tag), "step3", exact=True)
        assert proj.execution_ids(tag) == {ids[tag]}
    assert sorted(r["id"] for r in proj.list()) == sorted(ids.values())


# ------------------------------------------------------------------ recover, SIGTERM


def test_two_recoverers_at_once_retry_each_crashed_execution_once(proj: Project) -> None:
    tags = ("first", "second")
    ids, killed = crash_all_at(proj, tags)
    for tag in tags:
        wait_crashed(proj, ids[tag], killed[tag])

    recoverers = [proj.kitaru_start("executions", "recover", "--flow", proj.flow) for _ in "ab"]
    results = [(*p.communicate(timeout=900), p.returncode) for p in recoverers]
    for out, err, code in results:
        assert code == 0, f"exit {code}\n{out}\n{err[-3000:]}"

    for tag in tags:
        shown = proj.show(ids[tag])
        assert shown["status"] == "completed", (tag, shown["status"])
        # Retried once in all: checkpoint 3 ran again once, 4 and 5 once, 1 and 2 not again.
        assert_ran_once_except(proj.counts(tag), "step3", exact=True)
        assert proj.execution_ids(tag) == {ids[tag]}
    assert sorted(r["id"] for r in proj.list()) == sorted(ids.values())


def test_sigterm_records_crashed_with_the_signal_and_recover_completes_it(
    proj: Project,
) -> None:
    tag = "term"
    proj.hold_file(tag).touch()
    proc = proj.start(tag)
    execution_id, _ = kill_held_at_step3(proj, tag, proc, signal.SIGTERM)
    assert proc.returncode == -signal.SIGTERM, "the process must exit as Python would on SIGTERM"

    shown = proj.show(execution_id)
    assert shown["status"] == "crashed"
    said = " ".join(str(shown.get(k) or "") for k in ("error", "reason"))
    assert "SIGTERM" in said, {k: shown.get(k) for k in ("error", "reason")}
    assert checkpoint_statuses(shown).get("step2") == "completed"

    res = proj.kitaru("executions", "recover", "--flow", proj.flow)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    done = proj.show(execution_id)
    assert done["status"] == "completed"
    assert_ran_once_except(proj.counts(tag), "step3", exact=True)
    assert proj.execution_ids(tag) == {execution_id}


# -------------------------------------------------------------------- changed code


def test_retry_after_the_code_changed_the_calls_is_refused_and_runs_nothing(
    proj: Project,
) -> None:
    tag = "changed"
    execution_id, killed_at = crash_at_step3(proj, tag)
    wait_crashed(proj, execution_id, killed_at)
    before = proj.marks_file(tag).read_text()

    proj.write(step2_call="step2(tag, acc + ['changed'])")
    res = proj.kitaru("executions", "retry", execution_id)
    assert res.returncode != 0, f"a retry of changed code ran:\n{res.stdout}\n{res.stderr}"
    message = res.stdout + res.stderr
    assert "replay" in message.lower(), message
    assert "Traceback" not in message, message
    assert proj.marks_file(tag).read_text() == before, "a checkpoint body ran"
    assert proj.show(execution_id)["status"] != "completed"
    assert [r["id"] for r in proj.list()] == [execution_id]

    # The refusal left the execution retryable: with the code as it was, the retry completes.
    proj.write()
    res = proj.kitaru("executions", "retry", execution_id)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    assert proj.show(execution_id)["status"] == "completed"
    assert_ran_once_except(proj.counts(tag), "step3", exact=True)
    assert proj.execution_ids(tag) == {execution_id}
