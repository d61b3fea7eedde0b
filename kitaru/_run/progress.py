"""Progress of a flow on stderr: live on a terminal, one line per checkpoint otherwise.

Shown by ``.run()`` (for the part of a run that happens in this process) and
``.wait()`` (for a run elsewhere, read from the store). ``KITARU_PROGRESS=0`` or
``progress=False`` turns it off; ``NO_COLOR`` is honoured. Lines carry names,
durations, models and token counts, never an argument, output or secret value.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from kitaru.runtime.capture import passthrough
from kitaru.runtime.progress import CheckpointEnded

ENV_PROGRESS = "KITARU_PROGRESS"


def enabled(progress: bool | None) -> bool:
    """Whether to show progress, given a call's ``progress=`` and the environment."""
    if progress is not None:
        return progress
    return os.environ.get(ENV_PROGRESS, "1").strip().lower() not in ("0", "false", "no", "off")


def _llm_text(calls: list[dict[str, Any]]) -> str:
    parts = []
    for c in calls:
        usage = c.get("usage") or {}
        tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        tokens = f" {tokens_in}->{tokens_out} tokens" if tokens_in is not None else ""
        parts.append(f"llm {c.get('alias') or c.get('model')}{tokens}")
    return f" ({'; '.join(parts)})" if parts else ""


class Reporter:
    """Writes a flow's progress to stderr (a rich console on a terminal)."""

    def __init__(self, flow: str) -> None:
        self.flow = flow
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._shown: set[str] = set()
        # The stream as it is now: while the flow runs, sys.stderr copies what a
        # checkpoint writes into its logs, and progress lines are not its output.
        self._stream = passthrough(sys.stderr)
        self.live = self._stream.isatty()
        self._console: Any = None
        if self.live:
            from rich.console import Console

            self._console = Console(file=self._stream, highlight=False)

    def _line(self, text: str, style: str | None = None) -> None:
        with self._lock:
            if self._console is not None:
                from rich.text import Text

                self._console.print(Text(text, style=style or ""))
            else:
                self._stream.write(f"kitaru: {text}\n")
                self._stream.flush()

    def flow_started(self, where: str) -> None:
        if self.live:
            self._line(f"flow {self.flow} started on stack {where}", "bold")

    def submitted(self, execution: str, where: str) -> None:
        self._line(f"flow {self.flow} submitted to stack {where} ({execution})", "bold")

    def checkpoint_started(self, invocation_id: str, attempt: int) -> None:
        self._started[invocation_id] = time.monotonic()
        if self.live:
            retry = f" (retry {attempt - 1})" if attempt > 1 else ""
            self._line(f"  > {invocation_id}{retry}", "dim")

    def checkpoint_finished(self, ended: CheckpointEnded) -> None:
        name, seconds, calls = ended.invocation_id, ended.seconds, _llm_text(ended.llm_calls)
        self._shown.add(name)
        if ended.error is not None:
            self._line(f"  x {name} failed after {seconds:.2f}s: {ended.error}{calls}", "red")
        else:
            self._line(
                f"  ✓ {name} {seconds:.2f}s{calls}"
                if self.live
                else f"flow {self.flow}: checkpoint {name} completed in {seconds:.2f}s{calls}",
                "green",
            )

    def step_seen(self, invocation_id: str, status: str, seconds: float | None) -> None:
        """A checkpoint's end read from the store (a run in another process)."""
        if invocation_id in self._shown:
            return
        self._shown.add(invocation_id)
        took = f" in {seconds:.2f}s" if seconds is not None else ""
        self._line(f"flow {self.flow}: checkpoint {invocation_id} {status}{took}")

    def flow_finished(self, execution: str, status: str, seconds: float) -> None:
        self._line(f"flow {self.flow} {status} in {seconds:.2f}s ({execution})", "bold")
