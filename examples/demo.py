"""kitaru's main demo: the secrets guide's full story, offline.

1. store credentials with `kitaru secrets set` (value read from stdin, not argv);
2. register a model alias linked to that secret, pointing at a local
   OpenAI-compatible server that this script starts on 127.0.0.1;
3. run a flow whose checkpoints call `get_secret()` and `kitaru.llm()`;
4. show the execution, with its secret-read audit, via `kitaru executions show`.

Run it with `make demo` (state kept in ./.kitaru-demo) or `python examples/demo.py`.
It never touches your own secrets or model aliases: without KITARU_CONFIG_PATH it
works in a temporary config directory (removed at the end), and in any config
directory it uses names of its own (``kitaru-demo-*``), does not change the
default alias, and only ever replaces what an earlier run of the demo made.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import kitaru
from kitaru import checkpoint, flow, get_secret
from kitaru.testing import LocalOpenAIServer

BIN = Path(sys.executable).parent
KITARU = str(BIN / "kitaru")
GITHUB_TOKEN = "ghp_demo_token_0123456789"  # fake values: the demo is offline
DEMO_KEY = "sk-demo-local-0123456789"
# The demo's own names: a user's secrets and aliases never have to make room.
GITHUB_SECRET = "kitaru-demo-github"
OPENAI_SECRET = "kitaru-demo-openai"
SDK_SECRET = "kitaru-demo-sdk"
ALIAS = "kitaru-demo"


def sh(*args: str, stdin: str | None = None) -> None:
    """Run a `kitaru` CLI command and echo it, like a user at a terminal."""
    shown = " ".join(args)
    print(f"\n$ kitaru {shown}", flush=True)
    subprocess.run([KITARU, *args], input=stdin, text=True, check=True)


@checkpoint
def call_external_service() -> str:
    """The guide's pattern: load a credential inside the checkpoint body."""
    secret = get_secret(GITHUB_SECRET)
    token = secret.get("GITHUB_TOKEN")
    if token is None:
        raise RuntimeError(f"Secret `{GITHUB_SECRET}` is missing GITHUB_TOKEN.")
    return f"Loaded token with length {len(token)}"


@checkpoint(retries=1)
def summarize(topic: str) -> str:
    """An LLM call inside a checkpoint: the alias's linked secret is used on its own."""
    return kitaru.llm(
        f"Summarize {topic} in one line.", model=ALIAS, system="You are terse.", name="summary"
    )


@flow
def research(topic: str) -> dict[str, str]:
    """A small durable job: each checkpoint's output is persisted as it finishes."""
    status = call_external_service()
    summary = summarize(topic)
    # A call from the flow body is its own durable boundary.
    title = kitaru.llm(f"Give a title for: {summary}", model=ALIAS, name="title")
    return {"status": status, "summary": summary, "title": title}


@contextlib.contextmanager
def config_directory() -> Iterator[None]:
    """KITARU_CONFIG_PATH as given, else a temporary one for this run only."""
    given = os.environ.get("KITARU_CONFIG_PATH", "").strip()
    if given:
        print(f"kitaru config directory: {given} (the demo uses only kitaru-demo-* names)")
        yield
        return
    tmp = tempfile.mkdtemp(prefix="kitaru-demo-")
    os.environ["KITARU_CONFIG_PATH"] = tmp
    print(f"kitaru config directory: {tmp} (temporary: your own store is not touched)")
    try:
        yield
    finally:
        del os.environ["KITARU_CONFIG_PATH"]
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"Removed the temporary config directory {tmp}.")


def main() -> None:
    # The demo must never send a real key to the local server.
    for var in ("OPENAI_API_KEY", "KITARU_DEFAULT_MODEL", "KITARU_SERVER_URL"):
        os.environ.pop(var, None)
    with config_directory():
        run_demo()


def run_demo() -> None:
    with LocalOpenAIServer() as server:
        print(f"Local OpenAI-compatible server: {server.base_url}")

        # Values come from stdin (`--KEY=-`), so they never sit in shell history.
        sh("secrets", "set", GITHUB_SECRET, "--GITHUB_TOKEN=-", stdin=GITHUB_TOKEN + "\n")
        sh("secrets", "set", OPENAI_SECRET, "--OPENAI_API_KEY=-", stdin=DEMO_KEY + "\n")
        sh("secrets", "list")
        sh("secrets", "show", OPENAI_SECRET)
        sh(
            "model", "register", ALIAS,
            "--model", "openai/demo-model",
            "--secret", OPENAI_SECRET,
            "--api-base", server.base_url,
            "--force",  # a rerun replaces the demo's alias: the server's port changes
        )  # fmt: skip
        sh("model", "list")

        print("\n# Running the flow `research` ...", flush=True)
        handle = research.run("durable agents")
        result = handle.wait()
        print(f"Execution {handle.execution_id}: {handle.status}")
        for key, value in result.items():
            print(f"  {key}: {value}")
        tokens = {r.bearer_token for r in server.requests}
        ok = tokens == {DEMO_KEY}
        print(f"LLM server: {len(server.requests)} request(s), all with the linked key: {ok}")

        sh("executions", "show", str(handle.execution_id))

    print("\n# The guide's Python SDK example")
    with contextlib.suppress(kitaru.SecretNotFoundError):
        kitaru.delete_secret(SDK_SECRET)  # left by an interrupted run of the demo
    created = kitaru.create_secret(SDK_SECRET, {"GITHUB_TOKEN": "ghp_demo_sdk"})
    print(f"created: {created.name} private={created.private} keys={list(created.keys)}")
    secret = get_secret(SDK_SECRET)
    print(f"read: {secret!r} -> token length {len(secret.get('GITHUB_TOKEN') or '')}")
    deleted = kitaru.delete_secret(SDK_SECRET)
    print(f"deleted: {deleted.name}")
    print("\nDemo finished.")


if __name__ == "__main__":
    main()
