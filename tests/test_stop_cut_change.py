"""Stop, cut, change: cancel from another process, Ctrl-C, and replay from a chosen call.

Every test runs a user's script in a real process in a folder of its own
(``research_flow.py`` of the shared harness in ``_durability_support`` for
cancel and Ctrl-C, ``replay_flow.py`` here for replays) and drives it from
other processes: the real CLI (``kitaru executions cancel/retry/replay/show``),
real signals (SIGINT), or a driver script using the Python API. Checkpoint
bodies append a line to a marker file when they start (the replay script adds
their arguments), and the harness's also when they finish (``"<name>-end"``), so
the marker file says which bodies ran, how often and in which execution,
whatever the store says.

A checkpoint a second process must act during waits on a hold file that the
test removes only once that process has done its part, instead of a fixed
sleep. The module has a store of its own (not the session's).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _durability_support import (
    Project,
    one_line_error,
    own_store_env,
    project_at,
    result_line,
    wait_for_mark,
)

# ----------------------------------------------------------------------- the scripts

# The flow of these tests: four checkpoints (the shared harness's script, see
# _durability_support), none of which sleeps.
STEPS = ("step1", "step2", "step3", "step4")

# The runner looks for a cancel request once a second; on this (loaded) machine
# a look at the store can take a while, so a held checkpoint is released only
# this long after `cancel` returned.
CANCEL_SEEN_S = 8.0

CANCEL_DRIVER = """
import sys

import kitaru

handle = kitaru.FlowHandle(sys.argv[1], sys.argv[2])
print("SAID " + handle.cancel(), flush=True)
"""

CANCEL_ENDED_DRIVER = """
import json
import sys

import kitaru

handle = kitaru.FlowHandle(sys.argv[1], sys.argv[2])
try:
    handle.cancel(now=True)
    out = {"raised": None}
except kitaru.ExecutionStateError as exc:
    out = {"raised": type(exc).__name__, "message": str(exc), "status": exc.status}
print("RESULT " + json.dumps(out), flush=True)
"""


REPLAY_SCRIPT = """
import json
import os
import sys

import kitaru

MARKS = {marks!r}


def _mark(name: str, args: list) -> None:
    execution_id = kitaru.current_execution().execution_id
    with open(MARKS, "a") as fh:
        fh.write(name + " " + execution_id + " " + json.dumps(args, separators=(",", ":")) + "\\n")


@kitaru.checkpoint{fetch_deco}
def fetch(n: int) -> int:
    _mark("fetch", [n])
    return n * 10


@kitaru.checkpoint
def double(x: int) -> int:
    _mark("double", [x])
    return x * 2


@kitaru.checkpoint
def triple(x: int) -> int:
    _mark("triple", [x])
    return x * 3


@kitaru.checkpoint
def add(x: int, y: int) -> int:
    _mark("add", [x, y])
    return x + y


@kitaru.flow(name={flow!r})
def pipeline(n: int) -> list:
    a = fetch(n)
    b = double(a)
    c = {third_call}
    return [a, b, c, add(c, n)]


if __name__ == "__main__":
    handle = pipeline.run(int(sys.argv[1]))
    print("RESULT " + json.dumps({{"id": handle.execution_id, "result": handle.wait()}}))
"""

# Replaying from a cut with the Python API; prints each new execution and its result.
REPLAY_API_DRIVER = """
import json
import sys

import kitaru

import {module}

original = sys.argv[1]
out = {{}}
h = {module}.pipeline.replay(original, from_="double_2", outputs={{"fetch": 2, "double": 7}})
out["outputs"] = {{"id": h.execution_id, "result": h.wait(timeout=600)}}
h = {module}.pipeline.replay(original, from_="add", n=3)
out["kwargs"] = {{"id": h.execution_id, "result": h.wait(timeout=600)}}
try:
    {module}.pipeline.replay(original, from_="nope")
    out["unknown"] = None
except kitaru.KitaruError as exc:
    out["unknown"] = {{"type": type(exc).__name__, "message": str(exc)}}
print("RESULT " + json.dumps(out))
"""

# Replaying with changed code (the variant module); prints how the replay ended.
REPLAY_CHANGED_DRIVER = """
import json
import sys

import kitaru

import {module}

handle = {module}.pipeline.replay(sys.argv[1])
out = {{"id": handle.execution_id, "status": handle.status,
       "type": type(handle.error).__name__, "message": str(handle.error)}}
try:
    handle.wait(timeout=600)
    out["wait"] = None
except kitaru.ReplayError as exc:
    out["wait"] = "ReplayError"
print("RESULT " + json.dumps(out))
"""


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every process of this module: its own embedded store."""
    return own_store_env(tmp_path_factory.mktemp("stop") / "kitaru-config")


@pytest.fixture
def proj(tmp_path: Path, store_env: dict[str, str]) -> Iterator[Project]:
    with project_at(tmp_path / "proj", store_env, sleep=0.0, steps=len(STEPS)) as p:
        yield p


def hold(proj: Project, tag: str, step: str) -> Path:
    path = proj.hold_file(tag, step)
    path.touch()
    return path


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr[-4000:]}"
    return res


def one_stdout_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stdout, got:\n{res.stdout}"
    return lines[0]


def statuses(show: dict[str, Any]) -> dict[str, str]:
    """The last record's status per checkpoint name."""
    return {c["name"]: c["status"] for c in show["checkpoints"]}


def assert_retry_completes(proj: Project, tag: str, execution_id: str) -> None:
    """``executions retry`` continues the execution in place and it completes."""
    ok(proj.kitaru("executions", "retry", execution_id))
    done = proj.show(execution_id)
    assert done["id"] == execution_id and done["status"] == "completed", done["status"]
    assert done["result"] == list(STEPS), done["result"]  # -o json: the result as a JSON value
    assert proj.execution_ids(tag) == {execution_id}, "a retry is the same execution"
    assert [r["id"] for r in proj.list()] == [execution_id], "a retry is not a new execution"


# ---------------------------------------------------------------------------- cancel


def test_cancel_from_another_process_lets_checkpoint_2_finish_and_starts_no_other(
    proj: Project,
) -> None:
    tag = "cancel"
    held = hold(proj, tag, "step2")
    proc = proj.start(tag, "call")
    execution_id = wait_for_mark(proj, tag, "step2", proc)

    said = ok(proj.kitaru("executions", "cancel", execution_id))
    line = one_stdout_line(said)
    assert execution_id in line, line
    assert proc.poll() is None, "a cancel without --now must not stop the running checkpoint"
    time.sleep(CANCEL_SEEN_S)
    assert proc.poll() is None, "the flow ended while checkpoint 2 was still held"
    held.unlink()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err[-4000:]}"

    # Calling the flow raised FlowFailedError saying it was cancelled.
    result = result_line(out)
    assert result.get("type") == "FlowFailedError", result
    assert "cancelled" in result["error"].lower(), result
    # Checkpoint 2 ran to its end; 3 and 4 never started.
    assert proj.counts(tag, ends=True) == {"step1": 1, "step1-end": 1, "step2": 1, "step2-end": 1}

    shown = proj.show(execution_id)
    assert shown["status"] == "cancelled", shown["status"]
    assert statuses(shown).get("step2") == "completed", shown["checkpoints"]
    assert "step3" not in statuses(shown) and "step4" not in statuses(shown)
    listed = ok(
        proj.kitaru("executions", "list", "--flow", proj.flow, "--status", "cancelled", "--json")
    )
    assert [r["id"] for r in json.loads(listed.stdout)] == [execution_id]

    # Retried in place: 1 and 2 are not run again, 3 and 4 run once.
    assert_retry_completes(proj, tag, execution_id)
    counts = proj.counts(tag, ends=True)
    assert all(counts[s] == 1 and counts[f"{s}-end"] == 1 for s in STEPS), dict(counts)

    # Cancelling an execution that has ended: exit 1, one line naming its status.
    refused = proj.kitaru("executions", "cancel", execution_id)
    assert refused.returncode == 1, f"exit {refused.returncode}\n{refused.stdout}\n{refused.stderr}"
    assert "completed" in one_line_error(refused), refused.stderr
    assert proj.show(execution_id)["status"] == "completed"


def test_cancel_now_interrupts_the_running_checkpoint_and_retry_runs_it_again(
    proj: Project,
) -> None:
    tag = "now"
    held = hold(proj, tag, "step2")
    proc = proj.start(tag, "run")
    execution_id = wait_for_mark(proj, tag, "step2", proc)

    said = ok(proj.kitaru("executions", "cancel", execution_id, "--now", "--json"))
    data = json.loads(said.stdout)
    assert data["execution_id"] == execution_id and data["message"], data
    # The held checkpoint is never released: only the interrupt can end the process.
    proc.communicate(timeout=300)
    assert held.exists()
    counts = proj.counts(tag, ends=True)
    assert counts == {"step1": 1, "step1-end": 1, "step2": 1}, dict(counts)

    shown = proj.show(execution_id)
    assert shown["status"] == "cancelled", shown["status"]
    assert statuses(shown).get("step2") != "completed", shown["checkpoints"]

    held.unlink()
    assert_retry_completes(proj, tag, execution_id)
    counts = proj.counts(tag, ends=True)
    # Checkpoint 2 was interrupted, so it ran again; every other one ran once.
    assert counts["step2"] == 2 and counts["step2-end"] == 1, dict(counts)
    assert all(counts[s] == 1 for s in ("step1", "step3", "step4")), dict(counts)


def test_handle_cancel_from_python_and_wait_in_the_flow_process_says_cancelled(
    proj: Project,
) -> None:
    tag = "api"
    held = hold(proj, tag, "step3")
    proc = proj.start(tag, "run")
    execution_id = wait_for_mark(proj, tag, "step3", proc)

    driver = proj.root / "cancel_driver.py"
    driver.write_text(CANCEL_DRIVER)
    res = subprocess.run(
        [sys.executable, str(driver), proj.flow, execution_id],
        cwd=proj.root, env=proj.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    ok(res)
    assert any(ln.startswith("SAID ") and execution_id in ln for ln in res.stdout.splitlines())
    time.sleep(CANCEL_SEEN_S)
    held.unlink()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err[-4000:]}"

    result = result_line(out)
    assert result.get("type") == "FlowFailedError", result
    assert "cancelled" in result["error"].lower(), result
    assert result["status"] == "cancelled", result
    counts = proj.counts(tag, ends=True)
    assert counts["step3-end"] == 1 and counts["step4"] == 0, dict(counts)
    assert proj.show(execution_id)["status"] == "cancelled"

    # From Python too, a cancel of an ended execution is refused with its status.
    ended = proj.root / "cancel_ended.py"
    ended.write_text(CANCEL_ENDED_DRIVER)
    res = subprocess.run(
        [sys.executable, str(ended), proj.flow, execution_id],
        cwd=proj.root, env=proj.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    ok(res)
    refused = result_line(res.stdout)
    assert refused["raised"] == "ExecutionStateError", refused
    assert refused["status"] == "cancelled" and "cancelled" in refused["message"], refused
    assert proj.counts(tag, ends=True)["step4"] == 0, "a refused cancel ran nothing"


# ---------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_records_cancelled_says_one_line_and_retry_completes(proj: Project) -> None:
    tag = "ctrlc"
    held = hold(proj, tag, "step2")
    proc = proj.start(tag, "call")
    execution_id = wait_for_mark(proj, tag, "step2", proc)

    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in (130, -signal.SIGINT), f"exit {proc.returncode}\n{err[-4000:]}"
    assert "RESULT" not in out, "the KeyboardInterrupt was swallowed"

    ours = [ln for ln in err.splitlines() if ln.startswith("kitaru:")]
    assert len(ours) == 1, err[-4000:]
    assert ours[0].startswith(f"kitaru: execution {execution_id} cancelled (Ctrl-C)"), ours
    assert f"kitaru executions retry {execution_id}" in ours[0], ours
    tail = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback (most recent call last):" in err, err[-4000:]
    assert tail[-1] == "KeyboardInterrupt", err[-4000:]
    assert "site-packages/zenml" not in err, err[-4000:]
    assert "RunInterruptedException" not in err, err[-4000:]
    assert err.index("kitaru: execution") < err.index("Traceback"), err[-4000:]

    shown = proj.show(execution_id)
    assert shown["status"] == "cancelled", shown["status"]
    assert proj.counts(tag, ends=True) == {"step1": 1, "step1-end": 1, "step2": 1}

    held.unlink()
    assert_retry_completes(proj, tag, execution_id)
    counts = proj.counts(tag, ends=True)
    assert counts["step2"] == 2 and counts["step2-end"] == 1, dict(counts)
    assert all(counts[s] == 1 and counts[f"{s}-end"] == 1 for s in ("step1", "step3", "step4"))


# ------------------------------------------------------------------- replay from a cut


class Replays:
    """A folder with ``replay_flow.py`` and one completed execution of it (``n=1``)."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.proj = Project(root=root, env=env)
        self.flow = self.proj.flow
        self.marks_path = root / "replay.marks"
        root.mkdir(parents=True, exist_ok=True)
        self.write("replay_flow")
        res = subprocess.run(
            [sys.executable, str(root / "replay_flow.py"), "1"],
            cwd=root, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        ok(res)
        out = result_line(res.stdout)
        assert out["result"] == [10, 20, 40, 41]
        self.original: str = out["id"]
        assert self.runs_of(self.original) == [
            ("fetch", [1]), ("double", [10]), ("double", [20]), ("add", [40, 1]),
        ]  # fmt: skip

    def write(self, module: str, third_call: str = "double(b)", fetch_deco: str = "") -> None:
        (self.proj.root / f"{module}.py").write_text(
            REPLAY_SCRIPT.format(
                marks=str(self.marks_path),
                flow=self.flow,
                third_call=third_call,
                fetch_deco=fetch_deco,
            )
        )

    def marks(self) -> list[tuple[str, str, list[Any]]]:
        if not self.marks_path.exists():
            return []
        rows = [ln.split(" ", 2) for ln in self.marks_path.read_text().splitlines() if ln]
        return [(name, eid, json.loads(args)) for name, eid, args in rows]

    def runs_of(self, execution_id: str) -> list[tuple[str, list[Any]]]:
        """(checkpoint, arguments) of each body that ran in ``execution_id``."""
        return [(name, args) for name, eid, args in self.marks() if eid == execution_id]

    def replay(self, *args: str) -> dict[str, Any]:
        """``kitaru executions replay ORIGINAL ARGS... --json`` (must succeed)."""
        res = ok(self.proj.kitaru("executions", "replay", self.original, *args, "--json"))
        data = json.loads(res.stdout)
        assert isinstance(data, dict)
        assert data["replayed_from"] == self.original and data["status"] == "completed", data
        assert data["execution_id"] != self.original
        return data


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory, store_env: dict[str, str]) -> Replays:
    return Replays(tmp_path_factory.mktemp("replays") / "proj", store_env)


def test_replay_from_a_cut_reuses_every_call_before_it_and_runs_the_rest(
    replays: Replays,
) -> None:
    data = replays.replay("--from", "double_2")
    new = data["execution_id"]
    assert data["reused"] == ["fetch", "double"], data
    # Only the cut and what follows ran, with the recorded outputs before the cut.
    assert replays.runs_of(new) == [("double", [20]), ("add", [40, 1])]

    shown = replays.proj.show(new)
    assert shown["replayed_from"] == replays.original and shown["status"] == "completed"
    assert shown["result"] == [10, 20, 40, 41], shown["result"]
    calls = {c["id"]: c for c in shown["checkpoints"]}
    assert set(calls) == {"fetch", "double", "double_2", "add"}, sorted(calls)
    for reused in ("fetch", "double"):
        assert calls[reused]["reused_from"], calls[reused]
    for live in ("double_2", "add"):
        assert calls[live]["reused_from"] is None and calls[live]["status"] == "completed"
    assert replays.proj.show(replays.original)["status"] == "completed", "the original is kept"


def test_replay_from_a_cut_with_new_args_reuses_calls_whose_arguments_changed(
    replays: Replays,
) -> None:
    data = replays.replay("--from", "double_2", "--args", '{"n": 5}')
    new = data["execution_id"]
    # fetch(5) was not run: before the cut the recorded fetch(1) = 10 is reused by
    # position; the live add() sees the new n.
    assert replays.runs_of(new) == [("double", [20]), ("add", [40, 5])]
    assert replays.proj.show(new)["result"] == [10, 20, 40, 45]


def test_replay_with_a_replaced_output_feeds_it_to_the_flow_body(replays: Replays) -> None:
    data = replays.replay("--from", "double_2", "--output", "double=7")
    new = data["execution_id"]
    assert replays.runs_of(new) == [("double", [7]), ("add", [14, 1])]
    # The flow body saw the replacement as double's output.
    assert replays.proj.show(new)["result"] == [10, 7, 14, 15]


def test_replay_naming_an_unknown_call_is_one_line_exit_2_and_runs_nothing(
    replays: Replays,
) -> None:
    before_marks = replays.marks_path.read_text()
    before_runs = sorted(r["id"] for r in replays.proj.list())
    for args, named in (
        (("--from", "nope"), "nope"),
        (("--from", "double_2", "--output", "nope=1"), "nope"),
        (("--output", "fetch_9=1"), "fetch_9"),
    ):
        res = replays.proj.kitaru("executions", "replay", replays.original, *args)
        assert res.returncode == 2, f"{args}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
        line = one_line_error(res)
        assert named in line, (args, line)
        assert "Traceback" not in res.stderr
    assert replays.marks_path.read_text() == before_marks, "a checkpoint body ran"
    assert sorted(r["id"] for r in replays.proj.list()) == before_runs, "an execution started"


def test_python_replay_with_from_outputs_and_kwargs(replays: Replays) -> None:
    driver = replays.proj.root / "api_replay.py"
    driver.write_text(REPLAY_API_DRIVER.format(module="replay_flow"))
    res = subprocess.run(
        [sys.executable, str(driver), replays.original],
        cwd=replays.proj.root, env=replays.proj.env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    ok(res)
    out = result_line(res.stdout)

    # outputs= replaced both recorded outputs before the cut; the body saw them.
    assert out["outputs"]["result"] == [2, 7, 14, 15], out
    assert replays.runs_of(out["outputs"]["id"]) == [("double", [7]), ("add", [14, 1])]
    # Keyword arguments replace the flow's; every call before the cut is reused.
    assert out["kwargs"]["result"] == [10, 20, 40, 43], out
    assert replays.runs_of(out["kwargs"]["id"]) == [("add", [40, 3])]
    assert out["unknown"] is not None and "nope" in out["unknown"]["message"], out
    assert out["unknown"]["type"] == "KitaruValidationError", out


# --------------------------------------------------------------- the plan is checked


@pytest.mark.parametrize(
    ("module", "change", "named"),
    [
        # The third call is now another checkpoint (triple) where double_2 was.
        ("renamed_call", {"third_call": "triple(b)"}, ("triple", "double_2")),
        # fetch keeps its code but is recorded under a new name.
        ("renamed_checkpoint", {"fetch_deco": '(name="fetch_v2")'}, ("fetch_v2", "'fetch'")),
    ],
)
def test_replay_of_changed_code_is_refused_before_any_call_runs(
    replays: Replays, module: str, change: dict[str, str], named: tuple[str, ...]
) -> None:
    replays.write(module, **change)
    driver = replays.proj.root / f"changed_{module}.py"
    driver.write_text(REPLAY_CHANGED_DRIVER.format(module=module))
    before = replays.marks_path.read_text()

    res = subprocess.run(
        [sys.executable, str(driver), replays.original],
        cwd=replays.proj.root, env=replays.proj.env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    ok(res)
    out = result_line(res.stdout)
    assert out["type"] == "ReplayError" and out["status"] == "failed", out
    assert out["wait"] == "ReplayError", out
    assert replays.marks_path.read_text() == before, "a checkpoint body ran in the replay"
    assert Counter(name for name, _ in replays.runs_of(out["id"])) == Counter()
    message = out["message"]
    assert "changed shape" in message, message
    # What changed, and at which call: the new call and the recorded call it replaced.
    for name in named:
        assert name in message, f"{name} not named in: {message}"


def test_cli_replay_of_changed_code_is_one_line_and_runs_nothing(replays: Replays) -> None:
    # The CLI imports the flow from the script recorded on the execution: change that script.
    replays.write("replay_flow", third_call="triple(b)")
    try:
        before_marks = replays.marks_path.read_text()
        res = replays.proj.kitaru("executions", "replay", replays.original, "--json")
        assert res.returncode == 1, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
        line = one_line_error(res)
        assert "changed shape" in line and "triple" in line, line
        assert "Traceback" not in res.stderr
        assert replays.marks_path.read_text() == before_marks, "a checkpoint body ran"
    finally:
        replays.write("replay_flow")
