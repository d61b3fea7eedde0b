"""Run every benchmark and print a summary table of targets with PASS/FAIL.

    .venv/bin/python benchmarks/run_all.py [--only import,cli,flow] [--reps N] [--strict]

Each script runs in its own process and prints its own figures as it goes; the
summary at the end lists every target. Scripts that take ``--json`` report
their checks through it; any other ``bench_*.py`` in this directory is run
plainly and its lines ending in PASS or FAIL become the summary rows.

Exit code: 0 when all scripts ran (even if a target was missed), 2 if a script
crashed, and with ``--strict`` 1 when a target was missed. These are
measurements on a shared machine, not tests: read the ratios, which compare
with a raw baseline taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from _common import BENCH_DIR, PY, compile_like_an_install, load, say, table, temp_dir

# Scripts that speak --json/--reps/--profile, in the order they run.
STRUCTURED = {
    "import": "bench_import.py",
    "cli": "bench_cli.py",
    "flow": "bench_flow.py",
    "new_store": "bench_new_store.py",
}
SCRIPT_TIMEOUT = 3600.0
_VERDICT = re.compile(r"\b(PASS|FAIL)\s*$")


def discover() -> dict[str, str]:
    scripts = dict(STRUCTURED)
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        key = path.stem.removeprefix("bench_")
        scripts.setdefault(key, path.name)
    return scripts


def run_script(cmd: list[str]) -> tuple[int, list[str]]:
    """Run ``cmd``, echoing its output live; return (exit code, output lines)."""
    lines: list[str] = []
    proc = subprocess.Popen(
        cmd,
        cwd=BENCH_DIR.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    deadline = time.monotonic() + SCRIPT_TIMEOUT
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
        if time.monotonic() > deadline:
            proc.kill()
            say(f"timed out after {SCRIPT_TIMEOUT:.0f} s")
            break
    return proc.wait(), lines


def main() -> int:
    scripts = discover()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(scripts), help="comma-separated subset")
    parser.add_argument("--reps", type=int, default=None, help="override each script's reps")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in scripts]
    if unknown:
        parser.error(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(scripts)}"
        )

    compile_like_an_install()
    rows: list[tuple[str, ...]] = []
    crashed: list[str] = []
    started = time.perf_counter()
    say(f"kitaru benchmarks ({load()}; python {sys.version.split()[0]})")
    with temp_dir("runall") as tmp:
        for key in chosen:
            script = scripts[key]
            structured = key in STRUCTURED
            out = tmp / f"{key}.json"
            cmd = [PY, str(BENCH_DIR / script)]
            if structured:
                cmd += ["--json", str(out), "--profile", args.profile]
                if args.reps is not None:
                    cmd += ["--reps", str(args.reps)]
            say()
            say(f"=== {script} ===")
            t0 = time.perf_counter()
            rc, lines = run_script(cmd)
            say(f"({script} took {time.perf_counter() - t0:.0f} s, exit {rc})")
            if structured:
                rows.extend(_structured_rows(script, out))
            else:
                rows.extend(_plain_rows(script, lines))
            if (structured and not out.exists()) or (not structured and not lines):
                crashed.append(script)
                rows.append((script, "(script failed)", "-", "-", "ERROR"))

    say()
    say(f"=== summary ({time.perf_counter() - started:.0f} s; {load()}) ===")
    say(table(["script", "target", "measured", "goal", "result"], rows))
    passed = sum(r[-1] == "PASS" for r in rows)
    missed = sum(r[-1] == "FAIL" for r in rows)
    say(
        f"{passed}/{len(rows)} targets met"
        + (f"; crashed: {', '.join(crashed)}" if crashed else "")
    )
    if crashed:
        return 2
    return 1 if (args.strict and missed) else 0


def _structured_rows(script: str, out: Path) -> list[tuple[str, ...]]:
    if not out.exists():
        return []
    checks = json.loads(out.read_text(encoding="utf-8"))["checks"]
    return [(script, c["name"], c["shown"], c["target"], c["verdict"]) for c in checks]


def _plain_rows(script: str, lines: list[str]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for line in lines:
        m = _VERDICT.search(line)
        if m:
            text = " ".join(line[: m.start()].split())
            rows.append((script, text[:90] + ("..." if len(text) > 90 else ""), "", "", m.group(1)))
    return rows


if __name__ == "__main__":
    sys.exit(main())
