"""kitaru: durable agent code on top of ZenML.

Put ``@flow`` around a job and ``@checkpoint`` around each step whose output must
survive a crash; read credentials with :func:`get_secret` inside them.
Everything public is re-exported here; the rest is internal.
"""

from kitaru.checkpoint import checkpoint
from kitaru.errors import (
    BackendError,
    EncryptionKeyError,
    ExecutionNotFoundError,
    ImportTimeSecretError,
    InvalidSecretError,
    KitaruContextError,
    KitaruError,
    KitaruValidationError,
    LLMCallError,
    LLMSetupError,
    MissingSecretKeyError,
    ModelNotFoundError,
    RemoteCheckpointError,
    ReplayError,
    SecretError,
    SecretExistsError,
    SecretLeakError,
    SecretNotFoundError,
    SecretUnavailableError,
    SecretVisibilityError,
    ServerUnavailableError,
)
from kitaru.executions import Execution, ExecutionSummary, get_execution, list_executions
from kitaru.flow import FlowHandle, flow
from kitaru.llm import allm, llm
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

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "EncryptionKeyError",
    "Execution",
    "ExecutionInfo",
    "ExecutionNotFoundError",
    "ExecutionSummary",
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
    "RemoteCheckpointError",
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
    "register_model",
    "remove_model",
    "secret_ref",
    "set_default_model",
    "set_secret",
]
