"""Shared helpers for the benchmark scripts (not a test suite: they print figures).

Every figure is compared with a raw baseline measured in the same run, because
the machine is small (2 cores) and shared: absolute times drift, ratios much less.
Hence min-of-N everywhere and kitaru/raw runs interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PY = sys.executable
BIN = Path(sys.executable).parent
KITARU_BIN = str(BIN / "kitaru")
ZENML_BIN = str(BIN / "zenml")


@dataclass
class Check:
    """One target: a measured figure (or ratio) and whether it meets the target."""

    name: str
    value: float
    target: str
    passed: bool
    detail: str = ""
    shown: str = ""  # the value as the summary table prints it
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.shown:
            self.shown = f"{self.value:.3g}"

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def say(line: str = "") -> None:
    print(line, flush=True)


def report(check: Check) -> Check:
    """Print the check's line (``detail -> ... (target ...) PASS``) and return it."""
    say(f"{check.detail} (target {check.target}) {check.verdict}")
    return check


def compile_like_an_install() -> None:
    """Byte-compile kitaru's modules, as pip does when it installs a package.

    The editable install of the checkout writes no ``.pyc`` files, and with
    ``PYTHONDONTWRITEBYTECODE`` set (as on CI machines) every kitaru command
    would compile its modules from source again, about 60 ms, while ZenML and
    the other installed packages were compiled when pip installed them.
    """
    import compileall

    compileall.compile_dir(REPO / "kitaru", quiet=1)


def parse_args(description: str, reps: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="PATH", help="also write the checks as JSON to PATH")
    parser.add_argument(
        "--reps", type=int, default=reps, help=f"repetitions per figure (min of N; default {reps})"
    )
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="profile kitaru's cold path: only when a target is missed (auto), always, never",
    )
    args = parser.parse_args()
    compile_like_an_install()
    return args


def write_json(path: str | None, script: str, checks: Sequence[Check]) -> None:
    if not path:
        return
    data = {"script": script, "checks": [dict(asdict(c), verdict=c.verdict) for c in checks]}
    Path(path).write_text(json.dumps(data, indent=2), encoding="utf-8")


def clean_env(**extra: str) -> dict[str, str]:
    """The parent environment without any KITARU_/ZENML_ settings, plus ``extra``.

    Analytics are always off (no network calls from benchmarks).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KITARU_", "ZENML_", "PYTHONPROFILEIMPORTTIME"))
    }
    env["ZENML_ANALYTICS_OPT_IN"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"kitaru-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class CommandFailed(RuntimeError):
    pass


def run_timed(
    cmd: Sequence[str],
    env: dict[str, str],
    *,
    cwd: Path | str | None = None,
    timeout: float = 180.0,
    check: bool = True,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``cmd`` in a fresh process; return (wall seconds, completed process)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            list(cmd),
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise CommandFailed(f"exit {proc.returncode}: {' '.join(cmd)}\n{tail}")
    return elapsed, proc


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by waited-for child processes."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*headers), line.format(*("-" * w for w in widths))]
    out.extend(line.format(*(str(c) for c in row)) for row in rows)
    return "\n".join(out)


def load() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average n/a"
