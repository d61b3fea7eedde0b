"""kitaru's runtime context: execution scopes, lazy secrets, import-time guard, redaction.

This package sits at the base of kitaru: it imports nothing from the layers above,
not even lazily. What it needs from them is given to each execution scope by the
engine that starts it: how to fetch a secret, and the HMAC key of replay fingerprints.
"""

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
