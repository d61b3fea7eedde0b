"""One exception tree for kitaru, rooted in :class:`KitaruError`.

Every error keeps the fields it was built from as attributes and builds its
message from them. No message ever contains a secret value: errors name
secrets and keys, never what they hold. Import every error from here: the
roots and the execution family are defined in sibling modules and re-exported,
and every class of the tree names this module (its pickles load from here).
"""

from __future__ import annotations

from kitaru.errors.base import KitaruContextError, KitaruError, KitaruValidationError
from kitaru.errors.execution import (
    AmbiguousExecutionIdError,
    ExecutionBusyError,
    ExecutionCancelledError,
    ExecutionNotFoundError,
    ExecutionStateError,
    FlowFailedError,
    FlowWaitingError,
    ReplayError,
    WaitAbortedError,
)

__all__ = [
    "AmbiguousExecutionIdError",
    "BackendError",
    "EncryptionKeyError",
    "ExecutionBusyError",
    "ExecutionCancelledError",
    "ExecutionNotFoundError",
    "ExecutionStateError",
    "FlowFailedError",
    "FlowWaitingError",
    "ImportTimeError",
    "ImportTimeFlowStartError",
    "ImportTimeSecretError",
    "InvalidSecretError",
    "KitaruContextError",
    "KitaruError",
    "KitaruValidationError",
    "LLMCallError",
    "LLMSetupError",
    "MissingSecretKeyError",
    "ModelNotFoundError",
    "ReplayError",
    "SecretError",
    "SecretExistsError",
    "SecretLeakError",
    "SecretNotFoundError",
    "SecretUnavailableError",
    "SecretVisibilityError",
    "ServerLoginError",
    "ServerUnavailableError",
    "WaitAbortedError",
]


class InvalidSecretError(KitaruValidationError):
    """A secret name, key or value that is not acceptable.

    ``secret`` is the offending name when it is printable; values are never kept.
    """

    def __init__(
        self, message: str, *, secret: str | None = None, field: str | None = None
    ) -> None:
        if secret is not None and field != "name" and repr(secret) not in message:
            message = f"Secret {secret!r}: {message}"
        super().__init__(message, field=field)
        self.secret = secret


class SecretError(KitaruError):
    """Base class of errors about one named secret."""

    def __init__(self, message: str, *, secret: str) -> None:
        super().__init__(message)
        self.secret = secret


class SecretNotFoundError(SecretError, KeyError):
    """No secret with exactly this name or full ID is visible to the caller."""

    def __init__(self, secret: str) -> None:
        super().__init__(
            f"Secret {secret!r} not found (lookups match the exact name or the full ID; "
            "private secrets of other users are not visible). "
            "Run `kitaru secrets list` to see the secrets you can access.",
            secret=secret,
        )


class SecretExistsError(SecretError):
    """A secret with this name already exists in the requested scope."""

    def __init__(self, secret: str, *, private: bool) -> None:
        scope = "private" if private else "public"
        super().__init__(
            f"A {scope} secret named {secret!r} already exists. "
            f"Use `kitaru secrets set {secret} --KEY=value` to update it.",
            secret=secret,
        )
        self.private = private


class MissingSecretKeyError(SecretError, KeyError):
    """The secret has no key of this name."""

    def __init__(self, secret: str, key: str) -> None:
        super().__init__(f"Secret {secret!r} has no key {key!r}.", secret=secret)
        self.key = key


class SecretUnavailableError(SecretError, KeyError):
    """The secret exists but the caller may not read the value of ``key``."""

    def __init__(self, secret: str, key: str) -> None:
        super().__init__(
            f"Key {key!r} of secret {secret!r} is unavailable: the store did not return its "
            "value to the current user (missing read permission).",
            secret=secret,
        )
        self.key = key


class SecretVisibilityError(SecretError):
    """A change of visibility that the store does not allow for this user."""

    def __init__(self, secret: str, reason: str) -> None:
        super().__init__(
            f"Cannot change the visibility of secret {secret!r}: {reason}", secret=secret
        )
        self.reason = reason


class BackendError(KitaruError, RuntimeError):
    """The ZenML store failed in a way kitaru could not map to a clearer error."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class ServerUnavailableError(BackendError):
    """The configured ZenML server could not be reached."""

    def __init__(self, url: str, *, operation: str | None = None, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"Cannot reach the kitaru/ZenML server at {url}{detail}. "
            "Nothing was changed. Check that the server is running, or run `kitaru status`.",
            operation=operation,
        )
        self.url = url


class ServerLoginError(BackendError):
    """kitaru cannot authenticate to the server (no login, wrong password, revoked key)."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, operation="login")
        self.url = url


class EncryptionKeyError(KitaruError):
    """The secret store's encryption key is missing or does not match the store."""

    def __init__(self, message: str, *, key_file: str) -> None:
        super().__init__(message)
        self.key_file = key_file


class ImportTimeError(KitaruContextError):
    """Something that belongs in a function ran while a module was being imported.

    ``module``, ``filename`` and ``lineno`` say where. The kinds: a secret read
    (:class:`ImportTimeSecretError`) and a flow start (:class:`ImportTimeFlowStartError`).
    """

    def __init__(self, message: str, *, module: str, filename: str, lineno: int) -> None:
        super().__init__(message)
        self.module = module
        self.filename = filename
        self.lineno = lineno


class ImportTimeSecretError(ImportTimeError):
    """A secret was looked up while a module was being imported."""

    def __init__(
        self, secret: str, *, module: str, filename: str, lineno: int, outside_flow: bool = False
    ) -> None:
        if outside_flow:
            text = (
                f"Secret {secret!r} was read through a `secret_ref` outside a running flow "
                f"(in module {module!r}, {filename}:{lineno}). A `secret_ref` resolves only "
                "inside the runtime context: move the read into the body of your @checkpoint "
                "or @flow function, or use `kitaru.get_secret(...)` outside flows."
            )
        else:
            text = (
                f"Secret {secret!r} was read while module {module!r} was being imported "
                f"({filename}:{lineno}). Secrets must not be read at import time: move the "
                "lookup (`get_secret(...)`, or reading a `secret_ref`) into the body of your "
                "@checkpoint or @flow function; a lazy `kitaru.secret_ref(...)` may stay at "
                "module level."
            )
        super().__init__(text, module=module, filename=filename, lineno=lineno)
        self.outside_flow = outside_flow
        #: The secret read; None only on :class:`ImportTimeFlowStartError`.
        self.secret: str | None = secret


class ImportTimeFlowStartError(ImportTimeSecretError):
    """A flow was started while a module was being imported (``secret`` is None).

    An orchestrator's process imports the flow's module to run it, and would
    start the flow again from there. It is an :class:`ImportTimeError`; it also
    subclasses :class:`ImportTimeSecretError` only because the README named that
    class for flow starts, so ``except`` clauses written against it still catch it.
    """

    def __init__(self, flow: str, *, module: str, filename: str, lineno: int) -> None:
        text = (
            f"Flow {flow!r} was started while module {module!r} was being imported "
            f"({filename}:{lineno}). A process that imports this module (an orchestrator "
            "running a flow, a test runner) would start it again: start flows from a "
            'function, a script\'s `if __name__ == "__main__":` block, or the CLI, never '
            "from a module's top level."
        )
        ImportTimeError.__init__(self, text, module=module, filename=filename, lineno=lineno)
        self.outside_flow = False
        self.secret = None
        self.flow = flow


class SecretLeakError(KitaruError):
    """Output about to be persisted contains a value of a secret read in this execution."""

    def __init__(self, *, where: str, secret: str, key: str | None = None) -> None:
        what = f"secret {secret!r}" + (f" (key {key!r})" if key else "")
        super().__init__(
            f"{where} contains the value of {what}; refusing to persist it. "
            "Return something derived from the credential instead of the credential itself."
        )
        self.where = where
        self.secret = secret
        self.key = key


class ModelNotFoundError(KitaruError, KeyError):
    """No model alias with this name is registered."""

    def __init__(self, alias: str) -> None:
        super().__init__(
            f"Model alias {alias!r} is not registered. "
            f"Register it with `kitaru model register {alias} --model PROVIDER/MODEL`."
        )
        self.alias = alias


class LLMSetupError(KitaruError):
    """``kitaru.llm()`` cannot run: no model, or no credentials for it.

    ``model`` is the resolved model (None if there is none), ``missing`` the
    environment variables that are needed but set nowhere, and ``secret`` the
    linked secret that lacks them, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        missing: tuple[str, ...] = (),
        secret: str | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.missing = missing
        self.secret = secret


class LLMCallError(KitaruError, RuntimeError):
    """The provider call failed; the text has secret values redacted."""

    def __init__(self, message: str, *, model: str, provider_error: str) -> None:
        super().__init__(message)
        self.model = model
        self.provider_error = provider_error
