"""kitaru: durable agent code on top of ZenML.

Put ``@flow`` around a job and ``@checkpoint`` around each step whose output must
survive a crash; read credentials with :func:`get_secret` inside them.
Everything public is re-exported here; the rest is internal.
"""

import sys
import types
from typing import TYPE_CHECKING, Any

from kitaru.errors import (
    AmbiguousExecutionIdError,
    BackendError,
    EncryptionKeyError,
    ExecutionBusyError,
    ExecutionCancelledError,
    ExecutionNotFoundError,
    ExecutionStateError,
    FlowFailedError,
    FlowWaitingError,
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
    WaitAbortedError,
)
from kitaru.runtime import import_guard as _import_guard  # noqa: F401
from kitaru.runtime.lazy_exports import lazy_exports

# The import guard is loaded with kitaru, not on first use: it notes which import
# starts each thread, so a thread started by a module that imports kitaru, before
# that module reads any secret, is already covered.

# Everything else loads on first use (PEP 562), so `import kitaru` stays light: the
# CLI imports none of the decorators' machinery (wrapt, asyncio, the runtime)
# and no pydantic model (executions, models, secrets) it does not touch.
_LAZY: dict[str, tuple[str, str | None]] = {
    "checkpoint": ("kitaru.checkpoint", "checkpoint"),
    "flow": ("kitaru.flow", "flow"),
    "llm": ("kitaru.llm", "llm"),
    "Execution": ("kitaru.executions", "Execution"),
    "ExecutionSummary": ("kitaru.executions", "ExecutionSummary"),
    "get_execution": ("kitaru.executions", "get_execution"),
    "list_executions": ("kitaru.executions", "list_executions"),
    "recover": ("kitaru.executions", "recover"),
    "FlowHandle": ("kitaru.flow", "FlowHandle"),
    "current_execution_id": ("kitaru.run_log", "current_execution_id"),
    "log": ("kitaru.run_log", "log"),
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
    "wait": ("kitaru.waiting", "wait"),
    # A submodule that is part of the public face (``kitaru.executions.give_input``).
    "executions": ("kitaru.executions", None),
}

# Functions named like their own submodule: loading the submodule (from anywhere,
# in any order) makes Python set `kitaru.flow` to the module, which would shadow
# the decorator; this package's module type keeps the function there instead.
_NAMED_LIKE_THEIR_MODULE = ("checkpoint", "flow", "llm")


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _NAMED_LIKE_THEIR_MODULE and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    from kitaru import executions
    from kitaru.checkpoint import checkpoint
    from kitaru.executions import (
        Execution,
        ExecutionSummary,
        get_execution,
        list_executions,
        recover,
    )
    from kitaru.flow import FlowHandle, flow
    from kitaru.llm import allm, llm
    from kitaru.models import (
        ModelAlias,
        list_models,
        register_model,
        remove_model,
        set_default_model,
    )
    from kitaru.run_log import current_execution_id, log
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
    from kitaru.waiting import wait


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

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
    "FlowWaitingError",
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
    "WaitAbortedError",
    "__version__",
    "allm",
    "checkpoint",
    "create_secret",
    "current_execution",
    "current_execution_id",
    "delete_secret",
    "executions",
    "flow",
    "get_execution",
    "get_secret",
    "in_checkpoint",
    "in_flow",
    "list_executions",
    "list_models",
    "list_secrets",
    "llm",
    "log",
    "recover",
    "register_model",
    "remove_model",
    "secret_ref",
    "set_default_model",
    "set_secret",
    "wait",
]
