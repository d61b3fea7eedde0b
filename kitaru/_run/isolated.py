"""Isolated checkpoints: a checkpoint body in its own process, apart from its flow.

``@checkpoint(runtime="isolated")`` hands the call to ZenML's isolated step
runtime, which the orchestrator runs in its own process (a pod on Kubernetes).
Its arguments are stored with the run (ZenML passes them as step inputs), so
the leak guard checks them first; secrets are read in that process, and its
reads, LLM records and attempts come back through the step's metadata and join
the execution's audit. On an orchestrator without isolated steps the body runs
inline, with one warning per execution.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kitaru.errors import KitaruValidationError, SecretLeakError
from kitaru.runtime import ExecutionScope, SecretRead

if TYPE_CHECKING:
    from kitaru.runtime.record import CheckpointRecord

RUNTIMES = ("inline", "isolated")


def _checkpoint_object(wrapped: Any) -> Any:
    """The module-level @checkpoint object wrapping ``wrapped``, or None."""
    module = sys.modules.get(getattr(wrapped, "__module__", "") or "")
    obj = getattr(module, getattr(wrapped, "__name__", ""), None) if module else None
    return obj if getattr(obj, "__wrapped__", None) is wrapped else None


def call(
    scope: ExecutionScope,
    name: str,
    invocation_id: str,
    wrapped: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    inline: Callable[[], Any],
) -> Any:
    """Run one call of an isolated checkpoint; inline where the orchestrator cannot isolate."""
    from kitaru._zenml import flow_sources, pipelines

    if not pipelines.can_run_isolated():
        if not scope.warned_inline_isolated:
            scope.warned_inline_isolated = True
            warnings.warn(
                f"Execution {scope.execution_id} of flow {scope.flow_name!r}: this stack's "
                f"orchestrator cannot run isolated steps, so checkpoint {name!r} (and any "
                "other runtime='isolated' checkpoint) runs inline in the flow's process.",
                RuntimeWarning,
                stacklevel=4,
            )
        return pipelines.call_checkpoint(scope.execution_id, invocation_id, inline)
    match = scope.redactor.find_in_object((args, kwargs))
    if match is not None:
        raise SecretLeakError(
            where=f"Arguments of isolated checkpoint {invocation_id!r}",
            secret=match.secret,
            key=match.key,
        )
    target = _checkpoint_object(wrapped)
    found = flow_sources.resolve_flow_source(target) if target is not None else None
    if found is None or not found.shipped:
        raise KitaruValidationError(
            f"Checkpoint {name!r} runs isolated, in a process that imports it: define it "
            "at module level in a file under the project root (not as a method or inside "
            "a function).",
            field="runtime",
        )
    context = {
        "flow": scope.flow_name,
        "execution_id": scope.execution_id,
        "invocation_id": invocation_id,
        "registry": scope.model_registry,
        "args_hash": scope.checkpoints.get(invocation_id, {}).get("args_hash"),
    }
    value, record, error = pipelines.call_isolated(
        invocation_id, found.path, list(args), dict(kwargs), context
    )
    if record is not None:
        merge(scope, record)
    if error is not None:
        text = (record.error if record else None) or f"{type(error).__name__}: {error}"
        raise RuntimeError(f"Isolated checkpoint {invocation_id!r} failed: {text}")
    return value


def merge(scope: ExecutionScope, record: CheckpointRecord) -> None:
    """Fold what an isolated process recorded into the execution's own audit."""
    scope.reads.extend(SecretRead.from_record(r, record.name) for r in record.secret_reads)
    scope.events.extend(record.llm_calls)
    rec = scope.checkpoints.setdefault(record.id, {"id": record.id, "attempts": 0})
    rec["attempts"] = record.attempts
    rec["runtime"] = "isolated"
    if record.errors:
        rec["errors"] = list(record.errors)
