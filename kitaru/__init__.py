"""kitaru: durable agent code on top of ZenML.

Put ``@flow`` around a job and ``@checkpoint`` around each step whose output must
survive a crash; read credentials with :func:`get_secret` inside them.
Everything public is re-exported here; the rest is internal.
"""

from kitaru.errors import (
    BackendError,
    EncryptionKeyError,
    ImportTimeSecretError,
    InvalidSecretError,
    KitaruContextError,
    KitaruError,
    KitaruValidationError,
    MissingSecretKeyError,
    SecretError,
    SecretExistsError,
    SecretLeakError,
    SecretNotFoundError,
    SecretUnavailableError,
    SecretVisibilityError,
    ServerUnavailableError,
)
from kitaru.secrets import (
    Secret,
    SecretSetResult,
    SecretSummary,
    create_secret,
    delete_secret,
    get_secret,
    list_secrets,
    set_secret,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "EncryptionKeyError",
    "ImportTimeSecretError",
    "InvalidSecretError",
    "KitaruContextError",
    "KitaruError",
    "KitaruValidationError",
    "MissingSecretKeyError",
    "Secret",
    "SecretError",
    "SecretExistsError",
    "SecretLeakError",
    "SecretNotFoundError",
    "SecretSetResult",
    "SecretSummary",
    "SecretUnavailableError",
    "SecretVisibilityError",
    "ServerUnavailableError",
    "__version__",
    "create_secret",
    "delete_secret",
    "get_secret",
    "list_secrets",
    "set_secret",
]
