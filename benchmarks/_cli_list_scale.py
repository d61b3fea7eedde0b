"""Row of ``bench_cli.py``: ``kitaru executions list`` with 10 and with 1,000 executions.

Two kitaru stores, each with 10 runs of a one-step flow; the second store's runs
are then copied in its database up to 1,000 (see ``_seed_runs``). The list
shows the newest 20 either way, so its time must not grow with the store.
Cold processes, interleaved, order alternating each round, min of N.
Target: 1,000 / 10 <= 1.2.

    .venv/bin/python benchmarks/_cli_list_scale.py [--reps 3]   # only this row
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import KITARU_BIN, Check, clean_env, ms, ratio, report, run_timed, say
from _seed_runs import clone_runs, run_flows

TARGET_RATIO = 1.2
SMALL, LARGE = 10, 1000


def _store_db(env: dict[str, str]) -> Path:
    _, proc = run_timed(
        [sys.executable, "-c", "from kitaru._config import paths; print(paths().local_store_db)"],
        env,
    )
    return Path(proc.stdout.strip())


def scale_checks(tmp: Path, reps: int) -> list[Check]:
    envs = {n: clean_env(KITARU_CONFIG_PATH=str(tmp / f"kitaru-list-{n}")) for n in (SMALL, LARGE)}
    cwd = tmp / "cwd-list-scale"
    cwd.mkdir()
    say(f"running {SMALL} flows on each of two stores, then copying one's runs to {LARGE} ...")
    for env in envs.values():
        run_flows("kitaru", SMALL, env, cwd)
    clone_runs(_store_db(envs[LARGE]), LARGE)
    times: dict[int, list[float]] = {SMALL: [], LARGE: []}
    for i in range(reps + 1):
        order = (SMALL, LARGE) if i % 2 == 0 else (LARGE, SMALL)
        for n in order:
            wall, _ = run_timed([KITARU_BIN, "executions", "list"], envs[n], cwd=cwd)
            if i > 0:  # round 0 is the untimed warm-up
                times[n].append(wall)
    small, large = min(times[SMALL]), min(times[LARGE])
    r = ratio(large, small)
    name = f"`kitaru executions list` with {LARGE} / with {SMALL} executions"
    return [
        report(
            Check(
                name=name,
                value=r,
                shown=f"{r:.2f} ({ms(large)} / {ms(small)})",
                target=f"<= {TARGET_RATIO}",
                passed=r <= TARGET_RATIO,
                detail=f"{LARGE} executions {ms(large)} vs {SMALL} {ms(small)} -> ratio {r:.2f}",
                extra={"large_s": large, "small_s": small},
            )
        )
    ]


if __name__ == "__main__":
    from _common import load, parse_args, temp_dir, write_json

    args = parse_args(__doc__ or "", reps=3)
    say(f"bench_cli list scale: {args.reps} interleaved rounds ({load()})")
    with temp_dir("cli-list-scale") as tmp_dir:
        write_json(args.json, "bench_cli_list_scale", scale_checks(tmp_dir, args.reps))
