"""kitaru's main demo: the secrets guide's full story, offline.

1. store credentials with `kitaru secrets set` (value read from stdin, not argv);
2. register a model alias linked to that secret, pointing at a local
   OpenAI-compatible server that this script starts on 127.0.0.1;
3. run a flow whose checkpoints call `get_secret()` and `kitaru.llm()`;
4. show the execution, with its secret-read audit, via `kitaru executions show`.

Run it with `make demo`. It uses KITARU_CONFIG_PATH if set (the Makefile points
it at ./.kitaru-demo), so your own kitaru and ZenML setups are not touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kitaru
from kitaru import checkpoint, flow, get_secret
from kitaru.testing import LocalOpenAIServer

BIN = Path(sys.executable).parent
KITARU = str(BIN / "kitaru")
GITHUB_TOKEN = "ghp_demo_token_0123456789"  # fake values: the demo is offline
DEMO_KEY = "sk-demo-local-0123456789"


def sh(*args: str, stdin: str | None = None) -> None:
    """Run a `kitaru` CLI command and echo it, like a user at a terminal."""
    shown = " ".join(args)
    print(f"\n$ kitaru {shown}", flush=True)
    subprocess.run([KITARU, *args], input=stdin, text=True, check=True)


@checkpoint
def call_external_service() -> str:
    """The guide's pattern: load a credential inside the checkpoint body."""
    secret = get_secret("github-creds")
    token = secret.get("GITHUB_TOKEN")
    if token is None:
        raise RuntimeError("Secret `github-creds` is missing GITHUB_TOKEN.")
    return f"Loaded token with length {len(token)}"


@checkpoint(retries=1)
def summarize(topic: str) -> str:
    """An LLM call inside a checkpoint: the alias's linked secret is used on its own."""
    return kitaru.llm(f"Summarize {topic} in one line.", system="You are terse.", name="summary")


@flow
def research(topic: str) -> dict[str, str]:
    """A small durable job: each checkpoint's output is persisted as it finishes."""
    status = call_external_service()
    summary = summarize(topic)
    # A call from the flow body is its own durable boundary.
    title = kitaru.llm(f"Give a title for: {summary}", name="title")
    return {"status": status, "summary": summary, "title": title}


def main() -> None:
    # The demo must never send a real key to the local server.
    for var in ("OPENAI_API_KEY", "KITARU_DEFAULT_MODEL", "KITARU_SERVER_URL"):
        os.environ.pop(var, None)
    print(f"kitaru config directory: {os.environ.get('KITARU_CONFIG_PATH', '(per-user default)')}")

    with LocalOpenAIServer() as server:
        print(f"Local OpenAI-compatible server: {server.base_url}")

        # Values come from stdin (`--KEY=-`), so they never sit in shell history.
        sh("secrets", "set", "github-creds", "--GITHUB_TOKEN=-", stdin=GITHUB_TOKEN + "\n")
        sh("secrets", "set", "demo-openai", "--OPENAI_API_KEY=-", stdin=DEMO_KEY + "\n")
        sh("secrets", "list")
        sh("secrets", "show", "demo-openai")
        sh(
            "model", "register", "demo",
            "--model", "openai/demo-model",
            "--secret", "demo-openai",
            "--api-base", server.base_url,
            "--default",
            "--force",  # a rerun replaces it: the server's port changes each time
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
    created = kitaru.create_secret("demo-sdk-creds", {"GITHUB_TOKEN": "ghp_demo_sdk"})
    print(f"created: {created.name} private={created.private} keys={list(created.keys)}")
    secret = get_secret("demo-sdk-creds")
    print(f"read: {secret!r} -> token length {len(secret.get('GITHUB_TOKEN') or '')}")
    deleted = kitaru.delete_secret("demo-sdk-creds")
    print(f"deleted: {deleted.name}")
    print("\nDemo finished.")


if __name__ == "__main__":
    main()
