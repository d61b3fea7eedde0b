"""The warm runner: a one-checkpoint ``python research.py`` vs a raw ZenML one-step script.

``research.py`` runs one flow with one checkpoint, started with
``KITARU_RUNNER=warm`` (the runner started once and warmed by one run before
timing: "the second and later" runs); ``raw.py`` is the same as a raw ZenML
dynamic pipeline with one step, on its own existing store. Both are fresh
processes, interleaved, order alternating, min of N. Target: warm / raw <= 0.3.

    .venv/bin/python benchmarks/bench_warm.py [--reps 5]
"""

from __future__ import annotations

import textwrap

from _common import (
    KITARU_BIN,
    PY,
    Check,
    clean_env,
    load,
    ms,
    parse_args,
    ratio,
    report,
    run_timed,
    say,
    temp_dir,
    write_json,
)

TARGET_RATIO = 0.3
TIMEOUT = 300.0

RESEARCH = """
import kitaru

@kitaru.checkpoint
def fetch(topic: str) -> str:
    return f"notes on {topic}"

@kitaru.flow
def research(topic: str) -> str:
    return fetch(topic)

if __name__ == "__main__":
    print(research.run("ducks").wait())
"""

RAW = """
from zenml import pipeline, step

@step
def fetch(topic: str) -> str:
    return f"notes on {topic}"

@pipeline(dynamic=True)
def research(topic: str) -> None:
    fetch(topic)

if __name__ == "__main__":
    research("ducks")
"""


def main() -> None:
    args = parse_args(__doc__ or "", reps=5)
    say(f"bench_warm: {args.reps} interleaved rounds ({load()})")
    checks: list[Check] = []
    with temp_dir("warm") as tmp:
        (tmp / "research.py").write_text(textwrap.dedent(RESEARCH))
        (tmp / "raw.py").write_text(textwrap.dedent(RAW))
        k_env = clean_env(
            KITARU_CONFIG_PATH=str(tmp / "config-kitaru"), KITARU_RUNNER="warm", KITARU_PROGRESS="0"
        )
        z_env = clean_env(ZENML_CONFIG_PATH=str(tmp / "config-zenml"))
        sides = {
            "python research.py (warm runner)": ([PY, "research.py"], k_env),
            "python raw.py (raw ZenML)": ([PY, "raw.py"], z_env),
        }
        try:
            say("starting the runner and warming both sides ...")
            run_timed([KITARU_BIN, "runner", "start"], k_env, cwd=tmp, timeout=TIMEOUT)
            for cmd, env in sides.values():
                run_timed(cmd, env, cwd=tmp, timeout=TIMEOUT)
            times: dict[str, list[float]] = {k: [] for k in sides}
            for rep in range(args.reps):
                order = list(sides) if rep % 2 == 0 else list(reversed(sides))
                for name in order:
                    cmd, env = sides[name]
                    wall, _ = run_timed(cmd, env, cwd=tmp, timeout=TIMEOUT)
                    times[name].append(wall)
                say(
                    f"  round {rep + 1}: " + ", ".join(f"{k} {ms(v[-1])}" for k, v in times.items())
                )
        finally:
            run_timed([KITARU_BIN, "runner", "stop"], k_env, cwd=tmp, check=False)
        warm, raw = (min(v) for v in times.values())
        r = ratio(warm, raw)
        checks.append(
            report(
                Check(
                    name="warm runner: `python research.py` / raw ZenML one-step script",
                    value=r,
                    shown=f"{r:.2f} ({ms(warm)} / {ms(raw)})",
                    target=f"<= {TARGET_RATIO}",
                    passed=r <= TARGET_RATIO,
                    detail=f"warm research.py: {ms(warm)} vs raw ZenML {ms(raw)} -> ratio {r:.2f}",
                    extra={"kitaru_s": warm, "zenml_s": raw},
                )
            )
        )
    write_json(args.json, "bench_warm", checks)


if __name__ == "__main__":
    main()
