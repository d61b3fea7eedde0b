"""kitaru's runtime context: execution scopes, lazy secrets, import-time guard, redaction.

This package sits at the base of kitaru: it imports nothing from the layers above,
not even lazily. What it needs from them is given to each execution scope by the
engine that starts it: how to fetch a secret, and the HMAC key of replay fingerprints.
"""

from typing import TYPE_CHECKING

from kitaru.runtime.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from kitaru.runtime.import_guard import refuse_at_import_time, register_boundary
    from kitaru.runtime.reads import SecretRead
    from kitaru.runtime.redaction import (
        REDACTED,
        Match,
        Redactor,
        find_resolved_value,
        process_redactor,
        remember_resolved,
    )
    from kitaru.runtime.scope import (
        CheckpointScope,
        ExecutionInfo,
        ExecutionScope,
        checkpoint_scope,
        current_checkpoint_or_none,
        current_execution_or_none,
        execution_for_checkpoint,
        execution_info,
        execution_of_this_thread,
        execution_scope,
        in_checkpoint,
        in_flow,
        record_read_outside_flow,
        refuse_nested_flow,
        require_execution,
    )

_EXPORTS: dict[str, tuple[str, str | None]] = {
    "refuse_at_import_time": ("kitaru.runtime.import_guard", "refuse_at_import_time"),
    "register_boundary": ("kitaru.runtime.import_guard", "register_boundary"),
    "SecretRead": ("kitaru.runtime.reads", "SecretRead"),
    "REDACTED": ("kitaru.runtime.redaction", "REDACTED"),
    "Match": ("kitaru.runtime.redaction", "Match"),
    "Redactor": ("kitaru.runtime.redaction", "Redactor"),
    "find_resolved_value": ("kitaru.runtime.redaction", "find_resolved_value"),
    "process_redactor": ("kitaru.runtime.redaction", "process_redactor"),
    "remember_resolved": ("kitaru.runtime.redaction", "remember_resolved"),
    "CheckpointScope": ("kitaru.runtime.scope", "CheckpointScope"),
    "ExecutionInfo": ("kitaru.runtime.scope", "ExecutionInfo"),
    "ExecutionScope": ("kitaru.runtime.scope", "ExecutionScope"),
    "checkpoint_scope": ("kitaru.runtime.scope", "checkpoint_scope"),
    "current_checkpoint_or_none": ("kitaru.runtime.scope", "current_checkpoint_or_none"),
    "current_execution_or_none": ("kitaru.runtime.scope", "current_execution_or_none"),
    "execution_for_checkpoint": ("kitaru.runtime.scope", "execution_for_checkpoint"),
    "execution_info": ("kitaru.runtime.scope", "execution_info"),
    "execution_of_this_thread": ("kitaru.runtime.scope", "execution_of_this_thread"),
    "execution_scope": ("kitaru.runtime.scope", "execution_scope"),
    "in_checkpoint": ("kitaru.runtime.scope", "in_checkpoint"),
    "in_flow": ("kitaru.runtime.scope", "in_flow"),
    "record_read_outside_flow": ("kitaru.runtime.scope", "record_read_outside_flow"),
    "refuse_nested_flow": ("kitaru.runtime.scope", "refuse_nested_flow"),
    "require_execution": ("kitaru.runtime.scope", "require_execution"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "REDACTED",
    "CheckpointScope",
    "ExecutionInfo",
    "ExecutionScope",
    "Match",
    "Redactor",
    "SecretRead",
    "checkpoint_scope",
    "current_checkpoint_or_none",
    "current_execution_or_none",
    "execution_for_checkpoint",
    "execution_info",
    "execution_of_this_thread",
    "execution_scope",
    "find_resolved_value",
    "in_checkpoint",
    "in_flow",
    "process_redactor",
    "record_read_outside_flow",
    "refuse_at_import_time",
    "refuse_nested_flow",
    "register_boundary",
    "remember_resolved",
    "require_execution",
]
