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
from typing import Any

from kitaru.errors import KitaruValidationError, SecretLeakError
from kitaru.runtime import ExecutionScope, SecretRead

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
        return pipelines.call_checkpoint(invocation_id, inline)
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
    }
    value, record, error = pipelines.call_isolated(
        invocation_id, found.path, list(args), dict(kwargs), context
    )
    merge(scope, invocation_id, record)
    if error is not None:
        text = record.get("error") or f"{type(error).__name__}: {error}"
        raise RuntimeError(f"Isolated checkpoint {invocation_id!r} failed: {text}")
    return value


def merge(scope: ExecutionScope, invocation_id: str, record: dict[str, Any]) -> None:
    """Fold what an isolated process recorded into the execution's own record."""
    for r in record.get("secret_reads", []):
        scope.reads.append(
            SecretRead(
                secret=str(r["secret"]),
                keys=tuple(r.get("keys") or ()),
                checkpoint=r.get("checkpoint"),
                at=float(r.get("at") or 0.0),
                count=int(r.get("count") or 1),
                last_at=r.get("last_at"),
            )
        )
    scope.events.extend(e for e in record.get("llm_calls", []) if isinstance(e, dict))
    rec = scope.checkpoints.setdefault(invocation_id, {"id": invocation_id, "attempts": 0})
    rec["attempts"] = int(record.get("attempts", rec.get("attempts", 0)) or 0)
    rec["runtime"] = "isolated"
    if record.get("errors"):
        rec["errors"] = list(record["errors"])


def record_of(
    scope: ExecutionScope, invocation_id: str, error: BaseException | None
) -> dict[str, Any]:
    """What an isolated process hands back through its step's metadata (never a value)."""
    rec = scope.checkpoints.get(invocation_id, {})
    out: dict[str, Any] = {
        "secret_reads": [r.to_json() for r in scope.reads],
        "llm_calls": list(scope.events),
        "attempts": rec.get("attempts", 1),
        "errors": rec.get("errors", []),
    }
    if error is not None:
        out["error"] = scope.redactor.redact(f"{type(error).__name__}: {error}")[:2000]
    return out
