"""An execution's life on its ZenML run: who runs it, its heartbeat, how it ended.

Run metadata written by kitaru (never a value):
- ``kitaru``: the start record (flow, inputs, source, model registry, replay
  origin), written when the flow starts executing, together with
- ``kitaru_runner``: the process running it (see ``kitaru.runtime.liveness``);
- ``kitaru_heartbeat``: the runner's heartbeat, every HEARTBEAT_S seconds;
- ``kitaru_end``: how it ended (status, redacted error, result), per runner.

ZenML keeps the newest value of each key. A run ZenML still calls running whose
runner is dead is *crashed*: the first reader that notices writes that once
(``kitaru_end`` plus ZenML's own status ``failed``, so the dashboard agrees).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kitaru._zenml import run_settle
from kitaru._zenml.client import get_client, import_zenml
from kitaru._zenml.run_reads import SchemaMismatch
from kitaru.runtime.liveness import HEARTBEAT_S, STALE_S, process_alive, this_runner
from kitaru.runtime.record import RunnerInfo
from kitaru.runtime.statuses import ExecutionStatus

if TYPE_CHECKING:
    from kitaru.runtime.replay import RetryPlan

START_KEY = "kitaru"
RUNNER_KEY = "kitaru_runner"
HEARTBEAT_KEY = "kitaru_heartbeat"
END_KEY = "kitaru_end"

# ZenML merges the dict values written under one key over time (newer fields win,
# older fields stay), so every end record names all its fields.
END_FIELDS: dict[str, Any] = {
    "status": None,
    "error": None,
    "failed_checkpoint": None,
    "result_json": None,
    "body_reads": [],
    "body_llm_calls": [],
    "duration_s": None,
    "token": None,
    "at": None,
}

# How long the local orchestrator may take from creating a run to starting its flow.
STARTUP_S = 30.0
# End statuses of a runner that let a run go on elsewhere: released at a wait,
# or a retry/resume that handed the run to its orchestrator.
HANDED_OVER = ("waiting", "handed")

_ACTIVE = {"initializing", "provisioning", "running", "resuming", "retrying"}
_ZENML_TO_KITARU: dict[str, ExecutionStatus] = {
    "completed": "completed",
    "cached": "completed",
    "paused": "waiting",
    "stopping": "cancelled",
    "stopped": "cancelled",
    "cancelled": "cancelled",
}


def write_run_metadata(run_id: str, metadata: dict[str, Any]) -> None:
    """One metadata write on the run (each key replaces its older value)."""
    client = get_client()  # first: it imports zenml keeping the caller's logging
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    client.create_run_metadata(
        metadata=metadata,
        resources=[
            RunMetadataResource(id=uuid.UUID(run_id), type=MetadataResourceTypes.PIPELINE_RUN)
        ],
    )


CANCEL_PREFIX = "kitaru-cancel-"
_POLL_S = 1.0


def cancel_tag(run_id: str) -> str:
    """The name of the tag that asks the runner of ``run_id`` to stop (see ``Runner``)."""
    return f"{CANCEL_PREFIX}{run_id}"


class Runner:
    """This process as the runner of one execution: its record and its heartbeat.

    The same thread looks for a cancel request every second (a tag, so any
    process that can reach the store can ask) and sets ``cancel_requested``,
    which the flow checks before each checkpoint starts.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.info = this_runner(uuid.uuid4().hex)
        self.cancel_requested = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, start_record: dict[str, Any] | None = None) -> None:
        """Record this runner (with the start record, in the same write) and start beating."""
        data: dict[str, Any] = {RUNNER_KEY: {**self.info.model_dump(), "at": time.time()}}
        if start_record is not None:
            data[START_KEY] = start_record
        write_run_metadata(self.run_id, data)
        self._thread = threading.Thread(target=self._beat, name="kitaru-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(_POLL_S):
            try:
                if not self.cancel_requested.is_set() and cancel_asked(self.run_id):
                    self.cancel_requested.set()
                if time.monotonic() - last_beat >= HEARTBEAT_S:
                    last_beat = time.monotonic()
                    write_run_metadata(
                        self.run_id, {HEARTBEAT_KEY: {"token": self.info.token, "at": time.time()}}
                    )
            except Exception:  # noqa: BLE001 - a missed beat is retried; readers allow STALE_S
                continue

    def end(self, data: dict[str, Any]) -> None:
        """Record how this runner's attempt ended and stop the heartbeat."""
        self._stop.set()
        if self.cancel_requested.is_set():
            drop_cancel(self.run_id)
        record = {**END_FIELDS, **data, "token": self.info.token, "at": time.time()}
        write_run_metadata(self.run_id, {END_KEY: record})

    def stop(self) -> None:
        """Stop the heartbeat without recording an end (the process is going away)."""
        self._stop.set()


@dataclass(frozen=True)
class FlowAttempt:
    """One attempt at a flow's run, as its pipeline entry hands it to the flow.

    ``inputs`` holds the call's ``args`` and ``kwargs``; ``registry`` the run's model
    aliases; ``replay`` (original execution, cut, output overrides) is set for a
    replay; ``retry`` when the run continues itself in place (completed calls
    return their stored outputs); ``runner`` records how this attempt ends.
    """

    execution_id: str
    inputs: dict[str, Any]
    registry: dict[str, Any] | None
    replay: dict[str, Any] | None
    runner: Runner
    retry: RetryPlan | None = None


def cancel_asked(run_id: str) -> bool:
    """True if someone asked to cancel ``run_id`` (and the request is still standing)."""
    try:
        get_client().get_tag(cancel_tag(run_id), allow_name_prefix_match=False, hydrate=False)
    except KeyError:
        return False
    return True


def ask_cancel(run_id: str) -> None:
    """Ask the runner of ``run_id`` to stop before its next checkpoint."""
    import_zenml()
    from zenml.exceptions import EntityExistsError

    with contextlib.suppress(EntityExistsError):
        get_client().create_tag(name=cancel_tag(run_id))


def drop_cancel(run_id: str) -> None:
    """Withdraw a standing cancel request (it was honoured, or the run continues anew)."""
    with contextlib.suppress(KeyError):
        get_client().delete_tag(cancel_tag(run_id))


def duration(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds between two ZenML timestamps (None while one is missing)."""
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def run_meta(run: Any, key: str) -> dict[str, Any]:
    """kitaru's metadata ``key`` on a run ({} if absent or unreadable)."""
    try:
        value = run.run_metadata.get(key)
    except Exception:  # noqa: BLE001 - metadata not hydrated / not readable
        return {}
    return dict(value) if isinstance(value, dict) else {}


def _zenml_status(run: Any) -> str:
    return str(getattr(run.status, "value", run.status))


def end_record(run: Any) -> dict[str, Any]:
    """The ``kitaru_end`` of the run's current runner ({} while it has not ended)."""
    end = run_meta(run, END_KEY)
    runner = run_meta(run, RUNNER_KEY)
    if not end or (runner and end.get("token") != runner.get("token")):
        return {}
    return end


def _runs_in_caller(run: Any) -> bool:
    try:
        components = run.snapshot.stack.components
        return any(str(c.flavor_name) == "local" for c in components.get("orchestrator", []))
    except Exception:  # noqa: BLE001 - the stack may be gone or not readable
        return False


def runner_dead(run: Any) -> str | None:
    """Why the run's runner is known dead (one line), or None if it may be alive."""
    runner = run_meta(run, RUNNER_KEY)
    if not runner:
        # The local orchestrator starts the flow in the caller at once: a run it never
        # started after STARTUP_S lost its caller before the flow began (a kill).
        created = getattr(run, "created", None)
        if created is None or not _runs_in_caller(run):
            return None
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if time.time() - created.timestamp() > STARTUP_S:
            return "The process that started the flow died before the flow began."
        return None
    if end_record(run).get("status") in HANDED_OVER:
        # Its runner let the run go (released at a wait, or handed it to an
        # orchestrator to continue): the process that continues it has not
        # written its own runner record yet (a fresh process's watcher reports
        # it if it never does).
        return None
    try:
        info = RunnerInfo.model_validate({k: v for k, v in runner.items() if k != "at"})
    except ValueError:
        return None
    alive = process_alive(info)
    if alive is True:
        return None
    where = f"pid {info.pid} on {info.host}"
    if alive is False:
        return f"The flow's process ({where}) died."
    beat = run_meta(run, HEARTBEAT_KEY)
    last = beat.get("at") if beat.get("token") == info.token else runner.get("at")
    if isinstance(last, int | float) and time.time() - last > STALE_S:
        return (
            f"The flow's process ({where}) stopped its heartbeat {int(time.time() - last)} s ago."
        )
    return None


def execution_status(run: Any, *, settle: bool = True) -> ExecutionStatus:
    """kitaru's status of a ZenML run; a dead runner is recorded crashed (if ``settle``)."""
    status = _zenml_status(run)
    mapped = _ZENML_TO_KITARU.get(status)
    if mapped is not None:
        return mapped
    if status == "failed":
        end = end_record(run)
        return (
            "crashed"
            if end.get("status") == "crashed"
            else ("cancelled" if end.get("status") == "cancelled" else "failed")
        )
    if status in _ACTIVE and end_record(run).get("status") == "crashed":
        return "crashed"  # a run that never started keeps ZenML's status (see settle)
    reason = runner_dead(run) if status in _ACTIVE else None
    if reason is None:
        return "running"
    if settle:
        mark_crashed(str(run.id), reason)
    return "crashed"


def mark_crashed(run_id: str, reason: str, token: str | None = None) -> bool:
    """Record that the run's runner died; False if the run moved on meanwhile."""
    return settle(run_id, "crashed", reason, token)


def settle(run_id: str, status: str, reason: str, token: str | None = None) -> bool:
    """End a run that has no live runner (crashed, or cancelled while waiting).

    Writes kitaru's end record for the run's current runner and sets ZenML's
    status to ``failed`` (the state a retry in place starts from). Returns False
    if the run moved on meanwhile (ended, or another runner took it over). The
    write goes where the reads go (``run_settle``: SQL, or a pinned server's
    REST API), else through ZenML's client.
    """

    def decide(current: str, metadata: dict[str, Any]) -> run_settle.Settlement | None:
        runner = metadata.get(RUNNER_KEY)
        runner = dict(runner) if isinstance(runner, dict) else {}
        if current not in _ACTIVE | {"paused"} or (
            token is not None and runner.get("token") != token
        ):
            return None
        end = {**END_FIELDS, "status": status, "error": reason, "token": runner.get("token")}
        # Never started: ZenML keeps it a placeholder, which a retry starts in place
        # (a failed run could only be resumed, and there is nothing to resume).
        never_started = not runner and current in ("initializing", "provisioning")
        return run_settle.Settlement({END_KEY: {**end, "at": time.time()}}, not never_started)

    for write in (run_settle.settle_in_store, run_settle.settle_on_server):
        try:
            return write(run_id, decide)
        except SchemaMismatch:
            continue  # the next writer; last, ZenML's client
    store = get_client().zen_store  # first: it imports zenml keeping the caller's logging
    from zenml.enums import ExecutionStatus as ZenStatus
    from zenml.models import PipelineRunUpdate

    run = store.get_run(uuid.UUID(run_id), hydrate=True)
    settlement = decide(_zenml_status(run), {RUNNER_KEY: run_meta(run, RUNNER_KEY)})
    if settlement is None:
        return False
    write_run_metadata(run_id, dict(settlement.metadata))
    if settlement.fail:
        store.update_run(uuid.UUID(run_id), PipelineRunUpdate(status=ZenStatus.FAILED))
    return True


@contextlib.contextmanager
def sigterm_recorded(runner: Runner) -> Iterator[None]:
    """While a flow runs in the main thread, SIGTERM records it crashed, then ends as before.

    A service manager or Kubernetes stops a process with SIGTERM; recording the
    execution crashed (the signal named) lets ``kitaru.recover()`` pick it up.
    The process then ends as it would have: the earlier handler runs, or the
    default action ends it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None:  # installed from outside Python: nothing to put back but the default
        previous = signal.SIG_DFL

    def on_term(signum: int, frame: Any) -> None:
        def record() -> None:
            with contextlib.suppress(Exception):
                mark_crashed(runner.run_id, "Stopped by SIGTERM.", token=runner.info.token)

        runner.stop()
        # A thread of its own: the main thread may hold a store lock where it stopped.
        worker = threading.Thread(target=record, name="kitaru-sigterm", daemon=True)
        worker.start()
        worker.join(5.0)
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
        else:
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
