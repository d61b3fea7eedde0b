"""The exception tree: every error survives pickling, and `kitaru.errors` lists all of it.

Errors cross process boundaries (process pools, the isolated-checkpoint child,
multiprocessing queues) by pickle, so each must come back as the same class
with the same text and fields.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import kitaru
import kitaru.errors as errors
from kitaru._store.backend import UnsupportedOperation

# Errors of the tree defined beside the code that raises them, not in kitaru.errors
# (users catch them as their base class).
INTERNAL: set[type] = {UnsupportedOperation}

# One representative instance of every KitaruError subclass kitaru defines.
SAMPLES: dict[type[errors.KitaruError], errors.KitaruError] = {
    errors.KitaruError: errors.KitaruError("plain"),
    errors.KitaruValidationError: errors.KitaruValidationError("bad", field="name"),
    errors.KitaruContextError: errors.KitaruContextError("not here"),
    errors.InvalidSecretError: errors.InvalidSecretError("bad key", secret="s", field="key"),
    errors.SecretError: errors.SecretError("odd", secret="s"),
    errors.SecretNotFoundError: errors.SecretNotFoundError("s"),
    errors.SecretExistsError: errors.SecretExistsError("s", private=True),
    errors.MissingSecretKeyError: errors.MissingSecretKeyError("s", "k"),
    errors.SecretUnavailableError: errors.SecretUnavailableError("s", "k"),
    errors.SecretVisibilityError: errors.SecretVisibilityError("s", "not the owner"),
    errors.BackendError: errors.BackendError("store failed", operation="get"),
    errors.ServerUnavailableError: errors.ServerUnavailableError(
        "http://127.0.0.1:9", operation="list", reason="refused"
    ),
    errors.ServerLoginError: errors.ServerLoginError("no login", url="http://127.0.0.1:9"),
    errors.EncryptionKeyError: errors.EncryptionKeyError("wrong key", key_file="/k"),
    errors.ImportTimeError: errors.ImportTimeError("early", module="m", filename="m.py", lineno=2),
    errors.ImportTimeSecretError: errors.ImportTimeSecretError(
        "s", module="m", filename="m.py", lineno=3, outside_flow=True
    ),
    errors.ImportTimeFlowStartError: errors.ImportTimeFlowStartError(
        "f", module="m", filename="m.py", lineno=4
    ),
    errors.SecretLeakError: errors.SecretLeakError(where="output", secret="s", key="k"),
    errors.ModelNotFoundError: errors.ModelNotFoundError("fast"),
    errors.LLMSetupError: errors.LLMSetupError(
        "no key", model="openai/gpt-4o", missing=("OPENAI_API_KEY",), secret="s"
    ),
    errors.LLMCallError: errors.LLMCallError("boom", model="m", provider_error="500"),
    errors.ExecutionNotFoundError: errors.ExecutionNotFoundError("abc"),
    errors.AmbiguousExecutionIdError: errors.AmbiguousExecutionIdError(
        "ab", (("abc", "f"), ("abd", None))
    ),
    errors.FlowFailedError: errors.FlowFailedError(
        execution_id="abc", flow="f", error="ValueError: x", checkpoint="c", status="crashed"
    ),
    errors.ExecutionBusyError: errors.ExecutionBusyError("abc", "is running"),
    errors.ExecutionStateError: errors.ExecutionStateError("abc", "running", "still running"),
    errors.ExecutionCancelledError: errors.ExecutionCancelledError("abc"),
    errors.ReplayError: errors.ReplayError("cannot", execution_id="abc"),
    errors.FlowWaitingError: errors.FlowWaitingError(execution_id="abc", flow="f", waits=("w",)),
    errors.WaitAbortedError: errors.WaitAbortedError(execution_id="abc", wait="w"),
    UnsupportedOperation: UnsupportedOperation("the local encryption key", backend="rest-server"),
}


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def _kitaru_errors() -> set[type]:
    return {c for c in _subclasses(errors.KitaruError) if c.__module__.startswith("kitaru")}


def test_every_error_has_a_sample() -> None:
    assert set(SAMPLES) == _kitaru_errors()


@pytest.mark.parametrize("cls", sorted(SAMPLES, key=lambda c: c.__name__), ids=lambda c: c.__name__)
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_error_survives_pickling(cls: type[errors.KitaruError], protocol: int) -> None:
    error = SAMPLES[cls]
    assert type(error) is cls
    loaded: Any = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(loaded) is cls
    assert str(loaded) == str(error) and loaded.args == error.args
    assert vars(loaded) == vars(error)
    assert vars(error)  # the sample has fields to lose (at least its message)


def test_a_raised_error_survives_pickling_with_its_cause() -> None:
    try:
        try:
            raise OSError("disk")
        except OSError as cause:
            raise errors.FlowFailedError(execution_id="e", flow="f", error="x") from cause
    except errors.FlowFailedError as raised:
        text, loaded = str(raised), pickle.loads(pickle.dumps(raised))
    assert type(loaded) is errors.FlowFailedError and loaded.execution_id == "e"
    assert str(loaded) == text


def test_a_flow_start_at_import_time_is_no_secret_error_but_old_handlers_catch_it() -> None:
    error = errors.ImportTimeFlowStartError("f", module="m", filename="m.py", lineno=4)
    assert isinstance(error, errors.ImportTimeError) and error.secret is None
    assert not isinstance(error, errors.SecretError)
    assert "Flow 'f' was started while module 'm'" in str(error) and "Secret" not in str(error)
    # The README named ImportTimeSecretError for flow starts: `except` clauses still match.
    with pytest.raises(kitaru.ImportTimeSecretError):
        raise error
    secret_read = errors.ImportTimeSecretError("s", module="m", filename="m.py", lineno=3)
    assert isinstance(secret_read, errors.ImportTimeError) and secret_read.secret == "s"
    assert not isinstance(secret_read, errors.ImportTimeFlowStartError)


def test_every_class_names_the_public_module() -> None:
    # Pickles name `module.qualname`: the public path keeps loading when files move.
    for cls in _kitaru_errors() - INTERNAL:
        assert cls.__module__ == "kitaru.errors", cls
        assert getattr(errors, cls.__name__) is cls


def test_errors_all_is_complete() -> None:
    assert sorted(errors.__all__) == sorted(c.__name__ for c in _kitaru_errors() - INTERNAL)
    assert len(set(errors.__all__)) == len(errors.__all__)


def test_every_public_error_comes_from_kitaru_errors() -> None:
    public = [n for n in kitaru.__all__ if n.endswith("Error")]
    assert public
    for name in public:
        assert getattr(kitaru, name) is getattr(errors, name)
        assert name in errors.__all__
