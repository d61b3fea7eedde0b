"""An LLM connection error names the endpoint; a local endpoint gets one quick retry."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

import kitaru
from kitaru._run.llm_endpoint import is_loopback, shown_endpoint

KEY = "sk-endpoint-test-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_a_refused_connection_names_the_endpoint_and_never_the_key() -> None:
    base = f"http://user:hidden-userinfo@127.0.0.1:{free_port()}/v1?token=hidden-query"
    with pytest.raises(kitaru.LLMCallError) as caught:
        kitaru.llm("hi", model="openai/gpt-4o-mini", api_base=base, api_key=KEY)
    text = str(caught.value)
    assert "cannot connect to http://127.0.0.1:" in text and "/v1" in text
    for hidden in (KEY, "hidden-userinfo", "hidden-query"):
        assert hidden not in text


@pytest.fixture
def hang_up_server() -> Iterator[tuple[int, list[int]]]:
    """A loopback port that accepts each connection and closes it at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_loopback_endpoint_gets_one_quick_retry(hang_up_server: tuple[int, list[int]]) -> None:
    port, accepted = hang_up_server
    with pytest.raises(kitaru.LLMCallError):
        kitaru.llm(
            "hi", model="openai/gpt-4o-mini", api_base=f"http://127.0.0.1:{port}/v1", api_key=KEY
        )
    assert len(accepted) == 2  # the first try and one retry (the SDK's default is 3 tries)


def test_a_caller_choice_of_retries_is_kept(hang_up_server: tuple[int, list[int]]) -> None:
    port, accepted = hang_up_server
    with pytest.raises(kitaru.LLMCallError):
        kitaru.llm(
            "hi",
            model="openai/gpt-4o-mini",
            api_base=f"http://127.0.0.1:{port}/v1",
            api_key=KEY,
            max_retries=0,
        )
    assert len(accepted) == 1


def test_endpoint_helpers() -> None:
    assert is_loopback("http://127.0.0.2:8000/v1") and is_loopback("http://[::1]:80")
    assert is_loopback("http://localhost:1234") and not is_loopback("https://api.openai.com/v1")
    assert not is_loopback(None) and not is_loopback("not a url")
    assert (
        shown_endpoint("https://u:p@example.com:8443/v1?key=x#f") == "https://example.com:8443/v1"
    )
    assert shown_endpoint(None) is None
