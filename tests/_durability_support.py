"""Real flow processes driven by other processes and real signals: the one harness.

Used by the durability tests (crash, retry, recover) and by
``test_stop_cut_change.py`` (cancel, Ctrl-C). A test writes a user's script
(``research_flow.py``: one flow over five checkpoints, or as many as the
:class:`Project` says) into a folder of its own and starts it as ``python
research_flow.py TAG [call | run | STACK]`` in a real process. Each checkpoint
body appends ``"<checkpoint> <execution id>"`` to ``TAG.marks`` when it starts
and ``"<checkpoint>-end <execution id>"`` when it returns, so the marker file
says which bodies ran, how often, and in which execution, whatever the store
says. While ``TAG.<checkpoint>.hold`` exists, that checkpoint waits (a slow
checkpoint), so a kill or a cancel there lands before it finishes. A test acts
when the marker file shows a checkpoint started, then drives ``kitaru
executions ...`` (the real CLI, in subprocesses) or the Python API (in a driver
process) and checks the store against the marker file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STEPS = ("step1", "step2", "step3", "step4", "step5")
CRASH_WINDOW_S = 10.0  # a dead local runner is seen as dead within this (issue: "within 10 s")

FLOW_SCRIPT = """
import json
import os
import sys
import time

import kitaru

MARK_DIR = {mark_dir!r}
SLEEP = {sleep!r}


def _work(name: str, tag: str, acc: list) -> list:
    execution_id = kitaru.current_execution().execution_id
    marks = os.path.join(MARK_DIR, tag + ".marks")
    with open(marks, "a") as fh:
        fh.write(name + " " + execution_id + "\\n")
    # A test holds this checkpoint (a slow checkpoint) while TAG.NAME.hold exists.
    hold = os.path.join(MARK_DIR, tag + "." + name + ".hold")
    deadline = time.monotonic() + 600
    while os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(SLEEP)
    with open(marks, "a") as fh:
        fh.write(name + "-end " + execution_id + "\\n")
    return acc + [name]
{checkpoints}

@kitaru.flow(name={flow!r})
def research(tag: str) -> list:
{body}


if __name__ == "__main__":
    # python research_flow.py TAG [call | run | STACK]
    tag, how = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "run")
    if how == "call":
        # Calling the flow: a Ctrl-C here is not caught.
        try:
            out = {{"result": research(tag)}}
        except kitaru.FlowFailedError as exc:
            out = {{"error": str(exc), "type": type(exc).__name__}}
    else:
        handle = research.run(tag, stack=None if how == "run" else how)
        print("SUBMITTED " + handle.execution_id, flush=True)
        try:
            out = {{"result": handle.wait(timeout=900)}}
        except kitaru.FlowFailedError as exc:
            out = {{"error": str(exc), "type": type(exc).__name__, "status": handle.status}}
    print("RESULT " + json.dumps(out), flush=True)
"""

CHECKPOINT = """

@kitaru.checkpoint
def {name}(tag: str, acc: list) -> list:
    return _work({name!r}, tag, acc)
"""


def flow_script(*, mark_dir: str, flow: str, sleep: float, steps: int, step2_call: str) -> str:
    """The user's script: a flow over ``steps`` checkpoints ``step1`` ... ``stepN``."""
    names = [f"step{i}" for i in range(1, steps + 1)]
    calls = [f"    acc = {n}(tag, acc)" for n in names]
    calls[0] = "    acc = step1(tag, [])"
    calls[1] = f"    acc = {step2_call}"
    calls[-1] = f"    return {names[-1]}(tag, acc)"
    return FLOW_SCRIPT.format(
        mark_dir=mark_dir,
        sleep=sleep,
        flow=flow,
        checkpoints="".join(CHECKPOINT.format(name=n) for n in names),
        body="\n".join(calls),
    )


STEP2_CALL = "step2(tag, acc)"


@dataclass
class Project:
    """A user's folder holding ``research_flow.py``, and the environment to run it in."""

    root: Path
    env: dict[str, str]
    flow: str = field(default_factory=lambda: f"research_{uuid.uuid4().hex[:8]}")
    sleep: float = 1.0
    steps: int = len(STEPS)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def script(self) -> Path:
        return self.root / "research_flow.py"

    def write(self, step2_call: str = STEP2_CALL) -> None:
        """(Re)write the flow script; ``step2_call`` changes how checkpoint 2 is called."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.script.write_text(
            flow_script(
                mark_dir=str(self.root),
                flow=self.flow,
                sleep=self.sleep,
                steps=self.steps,
                step2_call=step2_call,
            )
        )

    def start(self, tag: str, *args: str) -> subprocess.Popen[str]:
        """Start ``python research_flow.py TAG [call | run | STACK]`` (not waited for)."""
        proc = subprocess.Popen(
            [sys.executable, str(self.script), tag, *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # cleanup() can end what it started, and only that
        )
        self.procs.append(proc)
        return proc

    def marks_file(self, tag: str) -> Path:
        return self.root / f"{tag}.marks"

    def hold_file(self, tag: str, step: str = "step3") -> Path:
        """While this file exists, checkpoint ``step`` of run ``tag`` waits."""
        return self.root / f"{tag}.{step}.hold"

    def marks(self, tag: str, *, ends: bool = False) -> list[tuple[str, str]]:
        """(checkpoint, execution id) per checkpoint body started, in order.

        With ``ends``, also ``("<checkpoint>-end", execution id)`` per body that returned.
        """
        path = self.marks_file(tag)
        if not path.exists():
            return []
        lines = [ln.split(" ") for ln in path.read_text().splitlines() if ln.strip()]
        return [(ln[0], ln[1]) for ln in lines if ends or not ln[0].endswith("-end")]

    def counts(self, tag: str, *, ends: bool = False) -> Counter[str]:
        """How often each checkpoint body started (and, with ``ends``, returned)."""
        return Counter(name for name, _ in self.marks(tag, ends=ends))

    def execution_ids(self, tag: str) -> set[str]:
        return {eid for _, eid in self.marks(tag)}

    def kitaru(
        self, *args: str, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The real CLI (``python -m kitaru ...``), run from the flow's folder."""
        return subprocess.run(
            [sys.executable, "-m", "kitaru", *args],
            cwd=self.root,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def kitaru_start(self, *args: str) -> subprocess.Popen[str]:
        """Start the CLI without waiting (for races)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "kitaru", *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def list(self) -> list[dict[str, Any]]:
        """``kitaru executions list --flow NAME --json`` (newest first)."""
        res = self.kitaru("executions", "list", "--flow", self.flow, "--limit", "100", "--json")
        assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
        rows = json.loads(res.stdout)
        assert isinstance(rows, list)
        return rows

    def show(self, execution_id: str) -> dict[str, Any]:
        res = self.kitaru("executions", "show", execution_id, "--json")
        assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
        data = json.loads(res.stdout)
        assert isinstance(data, dict)
        return data

    def cleanup(self) -> None:
        """End whatever this project started that still runs (its own process groups)."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)


def wait_for_mark(
    project: Project, tag: str, step: str, proc: subprocess.Popen[str], timeout: float = 300
) -> str:
    """Wait until checkpoint ``step`` has started (its marker line); returns the execution ID."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, eid in project.marks(tag):
            if name == step:
                return eid
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(
                f"the flow process ended (exit {proc.returncode}) before {step} started:\n"
                f"{out}\n{err[-3000:]}"
            )
        time.sleep(0.01)
    raise AssertionError(f"{step} did not start within {timeout} s")


def crash_all_at(
    project: Project, tags: tuple[str, ...], step: str = "step3", timeout: float = 300
) -> tuple[dict[str, str], dict[str, float]]:
    """Start one run per tag at once; SIGKILL each as soon as its ``step`` has started.

    Checkpoint 3 is held (see FLOW_SCRIPT) until its run is killed, so a kill
    there certainly lands before it finishes. Returns (execution ID per tag,
    monotonic kill time per tag).
    """
    if step == "step3":
        for tag in tags:
            project.hold_file(tag).touch()
    procs = {tag: project.start(tag) for tag in tags}
    ids: dict[str, str] = {}
    killed: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(killed) < len(tags):
        assert time.monotonic() < deadline, f"{step} did not start in every run: {ids}"
        for tag, proc in procs.items():
            if tag in killed:
                continue
            eid = next((e for name, e in project.marks(tag) if name == step), None)
            if eid is not None:
                ids[tag] = eid
                killed[tag] = kill(proc)
                project.hold_file(tag).unlink(missing_ok=True)  # a retry must not wait
            elif proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(
                    f"run {tag} ended (exit {proc.returncode}) before {step}:\n{out}\n{err[-3000:]}"
                )
        time.sleep(0.01)
    return ids, killed


def kill_held_at_step3(
    project: Project, tag: str, proc: subprocess.Popen[str], sig: int = signal.SIGKILL
) -> tuple[str, float]:
    """Wait until checkpoint 3 of ``proc`` (started with its hold file) runs, send ``sig``.

    Returns (execution ID, monotonic time of the kill); the hold file is removed.
    """
    execution_id = wait_for_mark(project, tag, "step3", proc, timeout=600)
    killed_at = kill(proc, sig)
    project.hold_file(tag).unlink(missing_ok=True)
    return execution_id, killed_at


def kill(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> float:
    """Send ``sig`` to the flow process and reap it; returns the monotonic time of the kill."""
    at = time.monotonic()
    os.kill(proc.pid, sig)
    proc.communicate(timeout=120)
    return at


def wait_crashed(project: Project, execution_id: str, killed_at: float) -> float:
    """Poll ``executions list`` until the execution is ``crashed``; returns seconds after the kill.

    A listing that started more than CRASH_WINDOW_S seconds after the kill must
    say ``crashed``; before that, the only other status allowed is ``running``.
    """
    while True:
        asked = time.monotonic()
        rows = {r["id"]: r for r in project.list()}
        assert execution_id in rows, f"{execution_id} not listed: {sorted(rows)}"
        status = rows[execution_id]["status"]
        after = asked - killed_at
        if status == "crashed":
            return after
        assert status == "running", f"status {status!r} {after:.1f} s after the kill"
        assert after <= CRASH_WINDOW_S, (
            f"execution {execution_id} still {status!r} when listed {after:.1f} s after its "
            f"runner was killed (must be 'crashed' within {CRASH_WINDOW_S} s)"
        )
        time.sleep(0.2)


def wait_status(
    project: Project, execution_id: str, wanted: set[str], timeout: float = 600
) -> dict[str, Any]:
    """Poll ``executions show`` until its status is one of ``wanted``; returns the show JSON."""
    deadline = time.monotonic() + timeout
    while True:
        data = project.show(execution_id)
        if data["status"] in wanted:
            return data
        assert time.monotonic() < deadline, f"still {data['status']!r} after {timeout} s"
        time.sleep(1)


def assert_ran_once_except(counts: Counter[str], at_kill: str | None, *, exact: bool) -> None:
    """Every checkpoint ran once; ``at_kill`` (running at the kill) at most twice.

    ``exact=True`` when ``at_kill`` certainly had not finished (so it ran twice).
    """
    for step in STEPS:
        if step == at_kill:
            wanted = {2} if exact else {1, 2}
            assert counts[step] in wanted, f"{step} ran {counts[step]} times: {dict(counts)}"
        else:
            assert counts[step] == 1, f"{step} ran {counts[step]} times: {dict(counts)}"


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal prints on stderr."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{res.stderr}"
    return lines[0]


def result_line(out: str) -> dict[str, Any]:
    """The ``RESULT {json}`` line a script printed last."""
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no RESULT line in:\n{out}"
    data: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return data


@contextlib.contextmanager
def project_at(root: Path, env: dict[str, str], **kwargs: Any) -> Iterator[Project]:
    """A project whose leftover processes are ended when the test ends."""
    proj = Project(root=root, env=env, **kwargs)
    proj.write()
    try:
        yield proj
    finally:
        proj.cleanup()


def own_store_env(config: Path) -> dict[str, str]:
    """os.environ with an embedded store of its own at ``config`` and no progress lines.

    Durability tests use a store apart from the session's: ``recover`` retries
    every crashed execution of its store, and the fuzz test checks the store's
    SQLite file.
    """
    env = {**os.environ, "KITARU_CONFIG_PATH": str(config), "KITARU_PROGRESS": "0"}
    env.pop("KITARU_SOURCE_ROOT", None)
    env.pop("KITARU_STACK", None)
    return env
