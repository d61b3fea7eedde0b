"""ZenML's errors are mapped to kitaru's by one rule each.

A refused login or an unreachable server reads the same whether it happens while
the client connects or in a call through ZenML's client (the ZenML secret
backend); a missing run is ``ExecutionNotFoundError`` for every reader of runs.
"""

from __future__ import annotations

import pytest

from kitaru.errors import (
    BackendError,
    ExecutionNotFoundError,
    ServerLoginError,
    ServerUnavailableError,
)

URL = "http://127.0.0.1:9"  # never contacted: only the mapping is under test
# A fixed ID no store has: both pytest workers must collect the same tests.
MISSING_ID = "3b6f2c1e-9d4a-4e71-8c25-0f6a7d9e1b42"


def test_connecting_and_calling_map_a_server_failure_alike() -> None:
    from zenml.exceptions import AuthorizationException

    from kitaru._store.zenml_backend import ZenMLBackend
    from kitaru._zenml.server import map_server_init_error

    backend = ZenMLBackend(URL, server=True)
    for exc in (AuthorizationException("401"), ConnectionError("refused")):
        on_connect = map_server_init_error(exc, URL)
        on_call = backend._map_error(exc, "get", "any-secret", False)
        assert type(on_connect) is type(on_call)
        assert isinstance(on_call, (ServerLoginError, ServerUnavailableError))
        assert on_call.url == URL
    login = map_server_init_error(AuthorizationException("401"), URL)
    assert str(login) == str(backend._map_error(AuthorizationException("401"), "get", "s", False))
    assert "rejected kitaru's session" in str(login)
    # What differs is only the words for the cause and the operation named.
    down = backend._map_error(ConnectionError("refused"), "update", "s", False)
    assert "ConnectionError" in str(down) and down.operation == "update"
    assert "connection failed" in str(map_server_init_error(ConnectionError(), URL))


def test_other_failures_stay_with_each_caller() -> None:
    from zenml.exceptions import AuthorizationException

    from kitaru._store.zenml_backend import ZenMLBackend
    from kitaru._zenml.server import map_server_init_error, server_failure

    assert server_failure(RuntimeError("boom"), URL) is None
    failed = map_server_init_error(RuntimeError("boom"), URL)
    assert type(failed) is BackendError
    assert str(failed) == f"Connecting to the server at {URL} failed: RuntimeError."
    # The embedded store has no login: a ZenML authorization error there is no login error.
    embedded = ZenMLBackend("/tmp/store", server=False)
    refused = embedded._map_error(AuthorizationException("no"), "get", "s", False)
    assert type(refused) is BackendError and "AuthorizationException" in str(refused)


@pytest.mark.parametrize("ref", ["not-a-uuid", MISSING_ID])
def test_a_missing_run_is_not_found_for_every_reader(ref: str) -> None:
    from kitaru._zenml.dashboard import run_url
    from kitaru._zenml.runs import load_run

    with pytest.raises(ExecutionNotFoundError) as by_runs:
        load_run(ref)
    with pytest.raises(ExecutionNotFoundError) as by_dashboard:
        run_url("http://127.0.0.1:8237", ref)
    assert str(by_runs.value) == str(by_dashboard.value)
    assert ref in str(by_dashboard.value)
