"""Continuing an execution in place: the engine of ``retry`` and ``recover``.

ZenML's dynamic runner continues an existing run: a step that succeeded returns
its stored output without running, a step left running by a dead process runs
again (while its retry budget lasts: see ``pipelines.CONTINUATIONS``). kitaru
adds what ZenML does not have: one continuation per execution at a time.

The exclusion is a ZenML tag named ``kitaru-retry-<execution id>``: tag names
are unique in the store, so creating it is an atomic test-and-set, on the
embedded store and on a server alike. The holder records itself as the run's
runner right away; its claim lapses when that runner is dead (or never
recorded itself within STALE_S), and the next claimant deletes the stale tag
by ID, so of two claimants that both see it lapse only one takes it over.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC
from typing import Any

from kitaru._zenml import run_state
from kitaru._zenml.client import get_client, import_zenml
from kitaru.errors import ExecutionBusyError
from kitaru.runtime.liveness import STALE_S, this_runner

CLAIM_PREFIX = "kitaru-retry-"


def _tag_age(tag: Any) -> float:
    created = tag.created
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return time.time() - float(created.timestamp())


def _lapsed(tag: Any, run: Any) -> bool:
    """True if the holder of ``tag`` is gone (its runner dead, or it never recorded one)."""
    runner = run_state.run_meta(run, run_state.RUNNER_KEY)
    at = runner.get("at")
    recorded_after_claim = isinstance(at, int | float) and at >= time.time() - _tag_age(tag) - 1
    if recorded_after_claim:
        return run_state.runner_dead(run) is not None
    return _tag_age(tag) > STALE_S


def claim(execution_id: str) -> str:
    """Take the execution's retry claim; its tag ID. ExecutionBusyError if someone holds it."""
    import_zenml()
    from zenml.exceptions import EntityExistsError

    client = get_client()
    name = f"{CLAIM_PREFIX}{execution_id}"
    for _ in range(3):
        try:
            return str(client.create_tag(name=name).id)
        except EntityExistsError:
            pass
        try:
            tag = client.get_tag(name, allow_name_prefix_match=False, hydrate=False)
        except KeyError:
            continue  # released meanwhile: try again
        run = client.zen_store.get_run(uuid.UUID(execution_id), hydrate=True)
        if not _lapsed(tag, run):
            break
        # KeyError: another claimant took the lapsed claim over first.
        with contextlib.suppress(KeyError):
            client.zen_store.delete_tag(tag_id=tag.id)
    raise ExecutionBusyError(
        execution_id, "is being retried by another process; wait for it, or check its status."
    )


def release(tag_id: str) -> None:
    """Give the claim back (gone already is fine)."""
    with contextlib.suppress(KeyError):
        get_client().zen_store.delete_tag(tag_id=uuid.UUID(tag_id))


def continue_run(execution_id: str) -> None:
    """Continue the (failed or crashed) run on its own stack, under the caller's claim.

    On the local orchestrator the run continues in this process and has ended
    when this returns; other orchestrators are handed the run to continue.
    """
    import_zenml()
    from zenml.enums import ExecutionStatus
    from zenml.models import PipelineRunUpdate
    from zenml.stack import Stack

    client = get_client()
    store = client.zen_store
    # Record this process as the runner at once: the claim is held by a live runner.
    info = this_runner(uuid.uuid4().hex)
    run_state.write_run_metadata(
        execution_id, {run_state.RUNNER_KEY: {**info.model_dump(), "at": time.time()}}
    )
    run_state.drop_cancel(execution_id)  # a cancel request was for the attempt that ended
    run_uuid = uuid.UUID(execution_id)
    run = store.get_run(run_uuid, hydrate=True)
    if run.status not in (ExecutionStatus.INITIALIZING, ExecutionStatus.PROVISIONING):
        # A run that never started stays a placeholder: the runner starts it in place.
        if run.status not in (ExecutionStatus.FAILED, ExecutionStatus.PAUSED):
            run = store.update_run(run_uuid, PipelineRunUpdate(status=ExecutionStatus.FAILED))
        run = store.update_run(run_uuid, PipelineRunUpdate(status=ExecutionStatus.RESUMING))
    if run.snapshot is None:
        raise RuntimeError(f"Execution {execution_id} has no snapshot to continue from.")
    snapshot = store.get_snapshot(run.snapshot.id, hydrate=True)
    if snapshot.stack is None:
        raise RuntimeError(f"The stack of execution {execution_id} is gone; it cannot continue.")
    stack = Stack.from_model(snapshot.stack)
    stack.orchestrator.resume_run(snapshot=snapshot, run=run, stack=stack)
    if stack.orchestrator.flavor != "local":
        # The run goes on in a process of the orchestrator's; this one is not its
        # runner any more (readers would call the run crashed when it exits).
        end = {**run_state.END_FIELDS, "status": "handed", "token": info.token}
        run_state.write_run_metadata(execution_id, {run_state.END_KEY: {**end, "at": time.time()}})
