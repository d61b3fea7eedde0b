"""Why a flow could not start on its stack, in one line (and kept on its run).

ZenML reports these with a long traceback, or a message of many lines:
- no container engine reachable for a ``local_docker`` stack (or an image build);
- a stack component whose flavor's ZenML integration is not installed here;
- kitaru's store on a full disk.
A run ZenML created before the failure is marked failed by ZenML; kitaru adds the
one-line reason as the run's end record, so ``kitaru executions show`` says it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import time
import uuid
from collections.abc import Iterator

from kitaru._config import paths
from kitaru._config.disk_space import disk_full_error, full_disk_file
from kitaru.errors import BackendError
from kitaru.errors.one_line import one_line

_NOT_INSTALLED = re.compile(r"The `([\w-]+)` integration that you are trying to use is not inst")
_NO_ENGINE = ("No container engine is available", "container engine docker is not available")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _raised_in_zenml(exc: BaseException) -> bool:
    """True if ZenML raised ``exc`` (not a flow body that happens to say the same)."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    return last is not None and f"{os.sep}zenml{os.sep}" in last


def missing_requirements(integration: str) -> list[str] | None:
    """The packages ZenML integration ``integration`` needs, if they are not installed here."""
    if not integration or integration == "built-in":
        return None
    from zenml.integrations.registry import integration_registry

    found = integration_registry.integrations.get(integration)
    if found is None or found.check_installation():
        return None
    return list(found.get_requirements())


def _install_hint(integration: str) -> str:
    needed = " ".join(shlex.quote(r) for r in missing_requirements(integration) or [])
    pip = f"`pip install {needed}` (or " if needed else "("
    return f"{pip}`zenml integration install {integration}`)"


def _docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (DOCKER_HOST is not set)"


def submit_error(exc: BaseException, *, stack: str, flow: str) -> BackendError | None:
    """The one-line error for ``exc`` if it is one of the failures above, else None."""
    for seen in _chain(exc):
        text = str(seen)
        found = _NOT_INSTALLED.search(text) if isinstance(seen, ImportError) else None
        if found is not None and _raised_in_zenml(seen):
            integration = found.group(1)
            return one_line(
                BackendError(
                    f"Stack {stack!r} cannot run flow {flow!r} here: it needs ZenML's "
                    f"{integration} integration, whose packages are not installed. Install "
                    f"them with {_install_hint(integration)}, or run on another stack.",
                    operation="run",
                )
            )
        engine_error = isinstance(seen, RuntimeError) and any(s in text for s in _NO_ENGINE)
        if engine_error and _raised_in_zenml(seen):
            return one_line(
                BackendError(
                    f"Stack {stack!r} cannot run flow {flow!r}: no Docker engine is reachable "
                    f"at {_docker_host()}. Start Docker (or point DOCKER_HOST at a running "
                    "engine) and run again, or run on another stack.",
                    operation="run",
                )
            )
    # SQLite errors of ZenML's store only: a flow body's own file errors stay its own.
    if any(type(seen).__module__.startswith("sqlalchemy") for seen in _chain(exc)):
        full = full_disk_file(exc, paths().local_store_db)
        if full is not None:
            return disk_full_error(full)
    return None


def record_submit_error(execution_id: str, message: str) -> None:
    """Keep ``message`` as the end record of a run that failed before its flow began.

    Best effort: the store itself may be what failed.
    """
    from kitaru._zenml import run_state
    from kitaru._zenml.client import get_client

    with contextlib.suppress(Exception):
        store = get_client().zen_store
        run = store.get_run(uuid.UUID(execution_id), hydrate=True)
        if run_state.run_meta(run, run_state.RUNNER_KEY) or run_state.end_record(run):
            return  # the flow began: its own record says how it ended
        if str(getattr(run.status, "value", run.status)) != "failed":
            return  # ZenML fails only a run it could not submit; this one may still start
        end = {**run_state.END_FIELDS, "status": "failed", "error": message, "at": time.time()}
        run_state.write_run_metadata(execution_id, {run_state.END_KEY: end})


def raise_if_submit_error(
    error: BaseException, *, stack: str, flow: str, execution_id: str | None
) -> None:
    """Raise the one-line error for a failed start (kept on its run, if one was made)."""
    said = submit_error(error, stack=stack, flow=flow)
    if said is None:
        from kitaru.runtime.interrupts import is_interrupt

        if execution_id is not None and not is_interrupt(error) and isinstance(error, Exception):
            # Any other failure to submit is kept too, as one redacted line.
            from kitaru.runtime import process_redactor

            first = (str(error).strip().splitlines() or [""])[0]
            line = process_redactor().redact(f"{type(error).__name__}: {first}")[:500]
            record_submit_error(execution_id, line)
        return
    if execution_id is not None:
        record_submit_error(execution_id, str(said))
    # KITARU_DEBUG=1 keeps ZenML's own error (and its traceback) as the cause.
    raise said from (error if os.environ.get("KITARU_DEBUG") else None)
