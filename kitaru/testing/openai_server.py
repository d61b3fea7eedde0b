"""A local OpenAI-compatible chat-completions server on 127.0.0.1.

Used by kitaru's demo and tests so that ``kitaru.llm()`` really goes through
litellm and HTTP without network access. It records each request's headers and
JSON body, and answers with a deterministic completion (by default it echoes the
last user message), including token usage.

    with LocalOpenAIServer() as server:
        kitaru.register_model("local", "openai/demo", api_base=server.base_url, ...)

From a shell, ``python -m kitaru.testing.openai_server [--host H] [--port P]``
serves until Ctrl-C or SIGTERM and prints its API base URL first.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.time)

    @property
    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer ...`` header, if any."""
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


def echo_responder(body: dict[str, Any]) -> str:
    """Answer with the last user message, prefixed by ``echo: ``."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return f"echo: {content if isinstance(content, str) else json.dumps(content)}"
    return "echo: (no user message)"


class LocalOpenAIServer:
    """A threaded HTTP server speaking the OpenAI chat-completions API."""

    def __init__(
        self, responder: Responder = echo_responder, *, port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self.fail_next: int = 0  # answer this many requests with an error first
        self.fail_status: int = 500
        # "{bearer}" is replaced by the request's bearer token, like providers that
        # quote a rejected key back ("Incorrect API key provided: sk-...").
        self.fail_message: str = "injected failure"
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The API base to give litellm (``http://HOST:PORT/v1``)."""
        host = str(self._server.server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    def start(self) -> LocalOpenAIServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-openai-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self.requests.clear()

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "demo", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, {"error": {"message": "invalid JSON"}})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = RecordedRequest(self.path, headers, body)
                server._record(req)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"unknown path {self.path}"}})
                    return
                with server._lock:
                    fail = server.fail_next > 0
                    if fail:
                        server.fail_next -= 1
                if fail:
                    message = server.fail_message.replace("{bearer}", req.bearer_token or "")
                    error = {"error": {"message": message, "type": "server"}}
                    self._send(server.fail_status, error)
                    return
                text = server.responder(body)
                prompt_tokens = sum(
                    len(str(m.get("content", "")).split()) for m in body.get("messages", [])
                )
                completion_tokens = len(text.split())
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "demo"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": completion_tokens,
                            "total_tokens": prompt_tokens + completion_tokens,
                        },
                    },
                )

        return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve on ``--host``/``--port`` until Ctrl-C or SIGTERM; print the API base URL."""
    parser = argparse.ArgumentParser(
        prog="python -m kitaru.testing.openai_server",
        description="A local OpenAI-compatible chat-completions server that echoes the last "
        "user message (with token usage). For offline demos and tests: point a model alias "
        "at it with `kitaru model register ALIAS --model openai/NAME --api-base URL`.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="TCP port; 0 picks a free one (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, not {args.port}")
    try:
        server = LocalOpenAIServer(port=args.port, host=args.host)
    except OSError as exc:
        print(f"Error: cannot listen on {args.host}:{args.port}: {exc.strerror}.", file=sys.stderr)
        raise SystemExit(1) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(server.base_url, flush=True)
    print("Serving; Ctrl-C or SIGTERM stops it.", file=sys.stderr, flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()


__all__ = ["LocalOpenAIServer", "RecordedRequest", "echo_responder", "main"]
