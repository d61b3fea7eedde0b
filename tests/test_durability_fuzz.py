"""Surviving a crash at random points: SIGKILL a real flow process, retry, check the store.

Each round runs the flow of ``research_flow.py`` (five checkpoints of 0.3 s,
see ``_durability_support``) in a process of its own and SIGKILLs it at a
random point: anywhere from its start to its end (creating the run, inside a
checkpoint, between two), or aimed at the end of a checkpoint, where its output
and record are written. After each kill the store's SQLite file passes
``PRAGMA integrity_check``, the execution is retried in place until it
completes, and the marker files show that every checkpoint body ran once,
except the one running at the kill, which may have run twice.

The flow processes are forked by a launcher that has loaded kitaru and ZenML
once, without opening the store (as a pre-forking server does): loading them
takes seconds per process on a busy machine, and a kill during the imports
tests nothing. Listing and retrying happen in a second long-lived process
through the Python API. The seed is in every failure message;
``KITARU_FUZZ_SEED=N`` (and ``KITARU_FUZZ_KILLS=N``) replay a schedule.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _durability_support import (
    STEPS,
    Project,
    assert_ran_once_except,
    own_store_env,
    project_at,
)


def store_db(config: Path) -> Path:
    """The embedded store's SQLite file under a KITARU_CONFIG_PATH."""
    found = sorted(config.rglob("zenml.db"))
    assert len(found) == 1, f"expected one zenml.db under {config}: {found}"
    return found[0]


_INTEGRITY = (
    "import sqlite3, sys\n"
    "con = sqlite3.connect(sys.argv[1], timeout=60)\n"
    "print('\\n'.join(str(r[0]) for r in con.execute('PRAGMA integrity_check')))\n"
)


def integrity_check(db: Path) -> str:
    """``PRAGMA integrity_check`` on ``db``, in a child process.

    Not in the test process: opening and closing the file in a process that also
    has it open through SQLite drops that process's locks on it (see
    conftest.files_containing).
    """
    out = subprocess.run(
        [sys.executable, "-c", _INTEGRITY, str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


FUZZ_KILLS = int(os.environ.get("KITARU_FUZZ_KILLS") or 20)
FUZZ_SLEEP = 0.3

CONTROLLER = """
import json
import sys

import kitaru
import kitaru.executions

for line in sys.stdin:
    cmd = json.loads(line)
    try:
        if cmd["op"] == "list":
            rows = kitaru.list_executions(limit=100, flow=cmd["flow"])
            out = {"rows": [{"id": r.id, "status": r.status} for r in rows]}
        else:
            handle = kitaru.executions.retry(cmd["id"])
            out = {"id": handle.execution_id, "result": handle.wait(timeout=600)}
    except Exception as exc:
        out = {"error": type(exc).__name__ + ": " + str(exc)}
    print(json.dumps(out), flush=True)
"""

LAUNCHER = """
import json
import os
import sys
import traceback

# Loads ZenML and kitaru's client once; it opens no connection to the store, so a
# forked child shares no SQLite handle with this process or its siblings.
from kitaru._zenml.client import get_client

get_client()
import research_flow

open_files = []
for fd in os.listdir("/proc/self/fd"):
    try:
        open_files.append(os.readlink("/proc/self/fd/" + fd))
    except OSError:
        pass
print(json.dumps({"ready": True, "store_open": [f for f in open_files if "zenml.db" in f]}),
      flush=True)

for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "fork":
        pid = os.fork()
        if pid == 0:
            log = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            code = 0
            try:
                research_flow.research.run(cmd["tag"]).wait(timeout=600)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        out = {"pid": pid}
    else:
        _, status = os.waitpid(cmd["pid"], 0)
        out = {"exit": os.waitstatus_to_exitcode(status)}
    print(json.dumps(out), flush=True)
"""


class Server:
    """A long-lived helper process answering one JSON line per JSON command line."""

    def __init__(self, proj: Project, name: str, source: str) -> None:
        script = proj.root / f"{name}.py"
        script.write_text(source)
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=proj.root, env=proj.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        proj.procs.append(self.proc)  # its forked children share its process group

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the {self.name} died (exit {self.proc.poll()})"
        data: dict[str, Any] = json.loads(line)
        return data

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.read()


class Controller(Server):
    """Lists and retries through the Python API."""

    def __init__(self, proj: Project) -> None:
        super().__init__(proj, "controller", CONTROLLER)

    def executions(self, flow: str) -> dict[str, str]:
        return {r["id"]: str(r["status"]) for r in self.ask(op="list", flow=flow)["rows"]}


class Launcher(Server):
    """Forks one flow process per round (see the module docstring)."""

    def __init__(self, proj: Project) -> None:
        super().__init__(proj, "launcher", LAUNCHER)
        self.proj = proj
        ready = self.read()
        assert ready == {"ready": True, "store_open": []}, ready

    def start(self, tag: str) -> int:
        return int(self.ask(op="fork", tag=tag, log=str(self.proj.root / f"{tag}.log"))["pid"])

    def reap(self, pid: int) -> int:
        return int(self.ask(op="reap", pid=pid)["exit"])


def alive(pid: int) -> bool:
    """The process runs (it exists and is not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _kill_at(
    proj: Project, launcher: Launcher, tag: str, rng: random.Random, total: float
) -> tuple[str, list[str]]:
    """Start a run and SIGKILL it at a random point; returns (how, marks at the kill)."""
    pid = launcher.start(tag)
    started = time.monotonic()
    if rng.random() < 0.35:
        # Aimed at the end of a checkpoint: its output and record being written.
        step = rng.choice(STEPS)
        delay = FUZZ_SLEEP + rng.uniform(0.0, 0.08)
        how = f"end of {step} +{delay:.3f}s"
        while step not in [n for n, _ in proj.marks(tag)] and alive(pid):
            time.sleep(0.005)
        time.sleep(delay)
    else:
        delay = rng.uniform(0.0, total)
        how = f"{delay:.2f}s after start"
        time.sleep(max(0.0, started + delay - time.monotonic()))
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    else:
        how += " (had ended)"
    launcher.reap(pid)
    return how, [n for n, _ in proj.marks(tag)]


def _span(total: float, how: str, elapsed: float) -> float:
    """The span to draw kill points from: shorter once a run has ended sooner."""
    return min(total, elapsed) if how.endswith("(had ended)") else total


def test_fuzz_random_sigkills_then_retry_runs_each_checkpoint_once(tmp_path: Path) -> None:
    store_env = own_store_env(tmp_path / "kitaru-config")
    seed = int(os.environ.get("KITARU_FUZZ_SEED") or uuid.uuid4().int % 10**6)
    rng = random.Random(seed)
    log: list[str] = []
    with project_at(tmp_path / "fuzz", store_env, sleep=FUZZ_SLEEP) as proj:
        ctl = Controller(proj)
        assert ctl.executions(proj.flow) == {}  # creates the store before anything forks
        db = store_db(Path(store_env["KITARU_CONFIG_PATH"]))
        launcher = Launcher(proj)
        # One run to the end sets the span the kills are drawn from.
        began = time.monotonic()
        code = launcher.reap(launcher.start("baseline"))
        total = time.monotonic() - began
        assert code == 0, (proj.root / "baseline.log").read_text()[-3000:]
        assert list(ctl.executions(proj.flow).values()) == ["completed"]
        assert_ran_once_except(proj.counts("baseline"), None, exact=False)
        known = set(ctl.executions(proj.flow))
        for n in range(FUZZ_KILLS):
            tag = f"k{n}"
            round_began = time.monotonic()
            how, at_kill = _kill_at(proj, launcher, tag, rng, total)
            where = f"seed {seed}, kill {n}: {how}, marks at kill {at_kill}"
            total = _span(total, how, time.monotonic() - round_began)
            assert integrity_check(db) == "ok", where
            new = set(ctl.executions(proj.flow)) - known
            assert len(new) <= 1, where
            if not new:
                # Killed before the run existed: nothing ran, nothing to retry; start again.
                assert at_kill == [], where
                code = launcher.reap(launcher.start(tag))
                assert code == 0, f"{where}\n{(proj.root / f'{tag}.log').read_text()[-3000:]}"
                new = set(ctl.executions(proj.flow)) - known
                assert len(new) == 1, where
            (execution_id,) = new
            known |= new
            deadline = time.monotonic() + 60
            while (status := ctl.executions(proj.flow)[execution_id]) == "running":
                assert time.monotonic() < deadline, f"{where}: still running 60 s after the kill"
                time.sleep(0.1)
            if status != "completed":
                assert status == "crashed", f"{where}: status {status!r}"
                retried = ctl.ask(op="retry", id=execution_id)
                assert retried.get("id") == execution_id, f"{where}: {retried}"
                assert retried.get("result") == list(STEPS), f"{where}: {retried}"
                status = ctl.executions(proj.flow)[execution_id]
            assert status == "completed", f"{where}: status {status!r}"
            running_at_kill = at_kill[-1] if at_kill else None
            assert_ran_once_except(proj.counts(tag), running_at_kill, exact=False)
            assert proj.execution_ids(tag) <= {execution_id}, where
            assert integrity_check(db) == "ok", where
            log.append(f"{where}: {status} in {time.monotonic() - round_began:.1f} s")
    assert integrity_check(db) == "ok"
    assert len(log) == FUZZ_KILLS
    print("\n".join(log))  # shown with -s: the schedule that was drawn
