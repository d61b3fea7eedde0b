"""kitaru: durable agent code on top of ZenML.

Put ``@flow`` around a job and ``@checkpoint`` around each step whose output must
survive a crash; read credentials with :func:`get_secret` inside them.
Everything public is re-exported here; the rest is internal.
"""

from typing import TYPE_CHECKING, Any

# Functions named like their own submodule are imported now: importing
# `kitaru.flow` (the module) anywhere would otherwise set `kitaru.flow` to the
# module and shadow the decorator.
from kitaru.checkpoint import checkpoint
from kitaru.errors import (
    AmbiguousExecutionIdError,
    BackendError,
    EncryptionKeyError,
    ExecutionBusyError,
    ExecutionCancelledError,
    ExecutionNotFoundError,
    ExecutionStateError,
    FlowFailedError,
    ImportTimeSecretError,
    InvalidSecretError,
    KitaruContextError,
    KitaruError,
    KitaruValidationError,
    LLMCallError,
    LLMSetupError,
    MissingSecretKeyError,
    ModelNotFoundError,
    ReplayError,
    SecretError,
    SecretExistsError,
    SecretLeakError,
    SecretNotFoundError,
    SecretUnavailableError,
    SecretVisibilityError,
    ServerLoginError,
    ServerUnavailableError,
)
from kitaru.flow import flow
from kitaru.llm import llm

# Everything else loads on first use (PEP 562), so `import kitaru` stays light:
# pydantic models (executions, models, secrets) are imported when touched.
_LAZY: dict[str, tuple[str, str]] = {
    "Execution": ("kitaru.executions", "Execution"),
    "ExecutionSummary": ("kitaru.executions", "ExecutionSummary"),
    "get_execution": ("kitaru.executions", "get_execution"),
    "list_executions": ("kitaru.executions", "list_executions"),
    "recover": ("kitaru.executions", "recover"),
    "FlowHandle": ("kitaru.flow", "FlowHandle"),
    "allm": ("kitaru.llm", "allm"),
    "ModelAlias": ("kitaru.models", "ModelAlias"),
    "list_models": ("kitaru.models", "list_models"),
    "register_model": ("kitaru.models", "register_model"),
    "remove_model": ("kitaru.models", "remove_model"),
    "set_default_model": ("kitaru.models", "set_default_model"),
    "ExecutionInfo": ("kitaru.runtime", "ExecutionInfo"),
    "in_checkpoint": ("kitaru.runtime", "in_checkpoint"),
    "in_flow": ("kitaru.runtime", "in_flow"),
    "current_execution": ("kitaru.runtime", "execution_info"),
    "Secret": ("kitaru.secrets", "Secret"),
    "SecretRef": ("kitaru.secrets", "SecretRef"),
    "SecretSetResult": ("kitaru.secrets", "SecretSetResult"),
    "SecretSummary": ("kitaru.secrets", "SecretSummary"),
    "create_secret": ("kitaru.secrets", "create_secret"),
    "delete_secret": ("kitaru.secrets", "delete_secret"),
    "get_secret": ("kitaru.secrets", "get_secret"),
    "list_secrets": ("kitaru.secrets", "list_secrets"),
    "secret_ref": ("kitaru.secrets", "secret_ref"),
    "set_secret": ("kitaru.secrets", "set_secret"),
}

if TYPE_CHECKING:
    from kitaru.executions import (
        Execution,
        ExecutionSummary,
        get_execution,
        list_executions,
        recover,
    )
    from kitaru.flow import FlowHandle
    from kitaru.llm import allm
    from kitaru.models import (
        ModelAlias,
        list_models,
        register_model,
        remove_model,
        set_default_model,
    )
    from kitaru.runtime import ExecutionInfo, in_checkpoint, in_flow
    from kitaru.runtime import execution_info as current_execution
    from kitaru.secrets import (
        Secret,
        SecretRef,
        SecretSetResult,
        SecretSummary,
        create_secret,
        delete_secret,
        get_secret,
        list_secrets,
        secret_ref,
        set_secret,
    )


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'kitaru' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "AmbiguousExecutionIdError",
    "BackendError",
    "EncryptionKeyError",
    "Execution",
    "ExecutionBusyError",
    "ExecutionCancelledError",
    "ExecutionInfo",
    "ExecutionNotFoundError",
    "ExecutionStateError",
    "ExecutionSummary",
    "FlowFailedError",
    "FlowHandle",
    "ImportTimeSecretError",
    "InvalidSecretError",
    "KitaruContextError",
    "KitaruError",
    "KitaruValidationError",
    "LLMCallError",
    "LLMSetupError",
    "MissingSecretKeyError",
    "ModelAlias",
    "ModelNotFoundError",
    "ReplayError",
    "Secret",
    "SecretError",
    "SecretExistsError",
    "SecretLeakError",
    "SecretNotFoundError",
    "SecretRef",
    "SecretSetResult",
    "SecretSummary",
    "SecretUnavailableError",
    "SecretVisibilityError",
    "ServerLoginError",
    "ServerUnavailableError",
    "__version__",
    "allm",
    "checkpoint",
    "create_secret",
    "current_execution",
    "delete_secret",
    "flow",
    "get_execution",
    "get_secret",
    "in_checkpoint",
    "in_flow",
    "list_executions",
    "list_models",
    "list_secrets",
    "llm",
    "recover",
    "register_model",
    "remove_model",
    "secret_ref",
    "set_default_model",
    "set_secret",
]
