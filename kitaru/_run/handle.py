"""``FlowHandle``: one execution, read back from the store wherever it ran."""

from __future__ import annotations

import os
import sys
import time
import types
from typing import Any, Generic, TypeVar

from kitaru._run.progress import Reporter
from kitaru.errors import FlowFailedError, KitaruError
from kitaru.runtime import SecretRead

R = TypeVar("R")

# A waiting execution is not over, but nothing more happens until someone answers it.
_TERMINAL = {"completed", "failed", "crashed", "cancelled", "waiting"}
_POLL_START, _POLL_MAX = 0.2, 2.0
_MISSING = object()


_INTERNAL_DIRS: tuple[str, ...] = ()


def _internal_dirs() -> tuple[str, ...]:
    global _INTERNAL_DIRS
    if not _INTERNAL_DIRS:
        # kitaru's package (this file is kitaru/_run/handle.py).
        dirs = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep]
        zenml = sys.modules.get("zenml")
        if zenml is not None and getattr(zenml, "__file__", None):
            dirs.append(os.path.dirname(str(zenml.__file__)) + os.sep)
        _INTERNAL_DIRS = tuple(dirs)
    return _INTERNAL_DIRS


def user_traceback(error: BaseException) -> BaseException:
    """``error`` with kitaru's and ZenML's frames left out of its traceback.

    A failed flow then reads as the user's own code, down to the checkpoint
    frame that raised. ``KITARU_DEBUG=1`` keeps every frame.
    """
    if os.environ.get("KITARU_DEBUG"):
        return error
    internal = _internal_dirs()
    kept = []
    tb = error.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(internal):
            kept.append(tb)
        tb = tb.tb_next
    if not kept:
        return error
    chain: types.TracebackType | None = None
    for t in reversed(kept):
        chain = types.TracebackType(chain, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return error.with_traceback(chain)


def interrupted(execution_id: str) -> None:
    """The one line a Ctrl-C of a running flow prints before ``KeyboardInterrupt``."""
    print(
        f"kitaru: execution {execution_id} cancelled (Ctrl-C); continue it with: "
        f"kitaru executions retry {execution_id}",
        file=sys.stderr,
    )


class FlowHandle(Generic[R]):
    """One execution of a flow: its ID, its status, and (via ``wait``) its result.

    The handle reads the run from kitaru's store, so it works the same for a run
    in this process (the local orchestrator) and one an orchestrator runs
    elsewhere. ``error`` holds the original exception when the run failed in this
    process; a run that failed elsewhere is reported as :class:`FlowFailedError`.
    """

    def __init__(
        self, flow_name: str, execution_id: str, local_error: BaseException | None = None
    ) -> None:
        self.flow_name = flow_name
        self.execution_id = execution_id
        self._local_error = local_error
        self._status: str | None = None
        self._record: dict[str, Any] | None = None
        self._result: Any = _MISSING
        self._reporter: Reporter | None = None
        self._began = time.monotonic()

    def follow(self, reporter: Reporter) -> None:
        """Report the run's checkpoints on stderr while ``wait()`` waits for it."""
        self._reporter = reporter

    def _report(self, final: bool) -> None:
        from kitaru._zenml import runs

        reporter = self._reporter
        if reporter is None:
            return
        for invocation_id, status, seconds in runs.step_states(self.execution_id):
            if status in _TERMINAL and not invocation_id.startswith(runs.RESULT_STEP_PREFIX):
                reporter.step_seen(invocation_id, status, seconds)
        if final:
            reporter.flow_finished(
                self.execution_id, self._read_status(), time.monotonic() - self._began
            )
            self._reporter = None

    def _read_status(self) -> str:
        from kitaru._zenml import runs

        if self._status is None:
            status = runs.run_status(self.execution_id)
            if status not in _TERMINAL or status == "waiting":  # a resume moves it on
                return status
            self._status = status
        return self._status

    @property
    def status(self) -> str:
        """The execution's status: ``running``, ``waiting``, ``completed``, ``failed``,
        ``crashed`` (its process died; retry it) or ``cancelled``."""
        return self._read_status()

    def _kitaru_record(self) -> dict[str, Any]:
        from kitaru._zenml import runs

        if self._record is None:
            record = runs.kitaru_record(self.execution_id)
            if self._status is None:
                return record
            self._record = record
        return self._record

    @property
    def error(self) -> BaseException | None:
        """The error that ended the execution, or None (also while it is running)."""
        status = self._read_status()
        if status in ("completed", "waiting") or status not in _TERMINAL:
            return None
        if self._local_error is not None and status == "failed":
            return self._local_error
        record = self._kitaru_record()
        return FlowFailedError(
            execution_id=self.execution_id,
            flow=self.flow_name,
            error=record.get("error"),
            checkpoint=record.get("failed_checkpoint"),
            status=status,
        )

    @property
    def secret_reads(self) -> list[SecretRead]:
        """The execution's audited secret reads (names and keys, never values)."""
        parsed = map(SecretRead.from_json, self._kitaru_record().get("secret_reads", []))
        return [r for r in parsed if r is not None]

    def wait(self, timeout: float | None = None) -> R:
        """Wait for the execution to end; return its result or raise its error.

        Raises:
            TimeoutError: ``timeout`` seconds passed and the run is still going.
            FlowWaitingError: the run stopped at a ``kitaru.wait()`` and released its
                process; answer the wait, then resume the execution.
            FlowFailedError: the run failed elsewhere (or was stopped).
            Exception: the flow's own (redacted) error, when it failed in this process.
        """
        from kitaru._zenml.process_state import process_state_kept

        with process_state_kept():
            return self._wait(timeout)

    def _wait(self, timeout: float | None) -> R:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL_START
        while self._read_status() not in _TERMINAL:
            self._report(final=False)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Execution {self.execution_id} of flow {self.flow_name!r} is still "
                    f"{self.status} after {timeout} s."
                )
            time.sleep(delay if deadline is None else min(delay, deadline - time.monotonic()))
            delay = min(delay * 2, _POLL_MAX)
        self._report(final=True)
        if self._read_status() == "waiting":  # stopped at a wait, its process released
            from kitaru._zenml import waits

            raise waits.waiting_error(self.execution_id, self.flow_name)
        error = self.error
        if error is not None:
            raise user_traceback(error)
        if self._result is _MISSING:
            from kitaru._zenml import runs

            try:
                self._result = runs.flow_result(self.execution_id)
            except KeyError:
                raise KitaruError(
                    f"Execution {self.execution_id} completed but recorded no result."
                ) from None
        return self._result  # type: ignore[no-any-return]

    def cancel(self, *, now: bool = False) -> str:
        """Cancel this execution: no further checkpoint starts (``now``: interrupt it).

        Returns what happened, in one line. See ``kitaru executions cancel``.

        Raises:
            ExecutionStateError: it has already ended.
        """
        from kitaru._run.control import cancel_execution

        return cancel_execution(self.execution_id, now=now)

    def __repr__(self) -> str:
        return (
            f"FlowHandle(flow={self.flow_name!r}, id={self.execution_id!r}, "
            f"status={self._status or 'unknown'!r})"
        )
