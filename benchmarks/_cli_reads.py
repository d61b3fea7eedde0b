"""Rows of ``bench_cli.py`` for the commands that need no ZenML import on the embedded store.

``kitaru stack list/current/show``, ``model list/show`` and ``status`` against raw
``zenml stack list``; ``kitaru executions list`` and ``show`` (the newest, with its
output) against raw ``zenml pipeline runs list`` (3 runs of a one-step flow on each
side); ``kitaru secrets rename`` and
``set --remove-key`` against raw ``zenml secret rename`` and ``zenml secret update
--remove-keys``. Each side has its own warm, existing store; cold processes,
interleaved, order alternating each round, min of N. Target: kitaru / raw <= 0.15.

    .venv/bin/python benchmarks/_cli_reads.py [--reps 3]   # only these rows
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from _common import (
    KITARU_BIN,
    ZENML_BIN,
    Check,
    clean_env,
    ms,
    ratio,
    report,
    run_timed,
    say,
)
from _seed_runs import run_flows

TARGET_RATIO = 0.15
TIMEOUT = 240.0
KEYS = 12  # keys to remove, one per round (and warm-up)
RUNS = 3  # executions on each side for the list rows

Make = Callable[[int], list[str]]


def read_checks(tmp: Path, reps: int) -> list[Check]:
    k_env = clean_env(KITARU_CONFIG_PATH=str(tmp / "kitaru-reads"))
    z_env = clean_env(ZENML_CONFIG_PATH=str(tmp / "zenml-reads"))
    cwd = tmp / "cwd-reads"
    cwd.mkdir()
    keys = [f"--K{i}=v{i}" for i in range(KEYS)]
    say("creating both stores for the read rows ...")
    for cmd, env in (
        ([KITARU_BIN, "secrets", "set", "edit-0", *keys], k_env),
        ([KITARU_BIN, "model", "register", "fast", "--model", "openai/gpt-4o-mini",
          "--secret", "edit-0"], k_env),
        ([ZENML_BIN, "secret", "create", "edit-0", *keys], z_env),
    ):  # fmt: skip
        run_timed(cmd, env, cwd=cwd, timeout=TIMEOUT)
    run_flows("kitaru", RUNS, k_env, cwd)
    run_flows("zenml", RUNS, z_env, cwd)
    _, listed = run_timed(
        [KITARU_BIN, "executions", "list", "--limit", "1", "--json"],
        k_env,
        cwd=cwd,
        timeout=TIMEOUT,
    )
    newest = json.loads(listed.stdout)[0]["id"]

    def kitaru(*args: str) -> Make:
        return lambda _: [KITARU_BIN, *args]

    def renamed(tool: str) -> Make:
        # edit-0 -> edit-1 -> edit-2 ...: each round renames the secret once more.
        if tool == "kitaru":
            return lambda i: [KITARU_BIN, "secrets", "rename", f"edit-{i}", f"edit-{i + 1}"]
        return lambda i: [ZENML_BIN, "secret", "rename", f"edit-{i}", "-n", f"edit-{i + 1}"]

    # The rename and remove rows run in that order within a round, so the
    # secret's name at remove time is known: edit-{i + 1}.
    def removed(tool: str) -> Make:
        if tool == "kitaru":
            return lambda i: [
                KITARU_BIN,
                "secrets",
                "set",
                f"edit-{i + 1}",
                "--remove-key",
                f"K{i}",
            ]
        return lambda i: [ZENML_BIN, "secret", "update", f"edit-{i + 1}", "--remove-keys", f"K{i}"]

    raw_list = "zenml stack list"
    raw_runs = "zenml pipeline runs list"
    rows: list[tuple[str, Make, str]] = [
        ("kitaru stack list", kitaru("stack", "list"), raw_list),
        ("kitaru stack current", kitaru("stack", "current"), raw_list),
        ("kitaru stack show default", kitaru("stack", "show", "default"), raw_list),
        ("kitaru model list", kitaru("model", "list"), raw_list),
        ("kitaru model show fast", kitaru("model", "show", "fast"), raw_list),
        ("kitaru status", kitaru("status"), raw_list),
        ("kitaru executions list", kitaru("executions", "list"), raw_runs),
        ("kitaru executions show", kitaru("executions", "show", newest), raw_runs),
        ("kitaru secrets rename", renamed("kitaru"), "zenml secret rename"),
        ("kitaru secrets set --remove-key", removed("kitaru"), "zenml secret update --remove-keys"),
    ]
    raws: dict[str, Make] = {
        raw_list: lambda _: [ZENML_BIN, "stack", "list"],
        raw_runs: lambda _: [ZENML_BIN, "pipeline", "runs", "list"],
        "zenml secret rename": renamed("zenml"),
        "zenml secret update --remove-keys": removed("zenml"),
    }
    times: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    times.update({name: [] for name in raws})

    def timed(name: str, make: Make, env: dict[str, str], i: int) -> None:
        wall, _ = run_timed(make(i), env, cwd=cwd, timeout=TIMEOUT)
        if i > 0:  # round 0 is the untimed warm-up
            times[name].append(wall)

    for i in range(reps + 1):
        kitaru_first = i % 2 == 0
        if not kitaru_first:
            for name, make in raws.items():
                timed(name, make, z_env, i)
        for name, make, _ in rows:
            timed(name, make, k_env, i)
        if kitaru_first:
            for name, make in raws.items():
                timed(name, make, z_env, i)
        if i:
            say(f"  reads round {i}: " + ", ".join(f"{k} {ms(v[-1])}" for k, v in times.items()))

    checks = []
    for name, _, raw in rows:
        best_k, best_z = min(times[name]), min(times[raw])
        r = ratio(best_k, best_z)
        checks.append(
            report(
                Check(
                    name=f"`{name}` / `{raw}`",
                    value=r,
                    shown=f"{r:.2f} ({ms(best_k)} / {ms(best_z)})",
                    target=f"<= {TARGET_RATIO}",
                    passed=r <= TARGET_RATIO,
                    detail=f"{name}: {ms(best_k)} vs raw {raw} {ms(best_z)} -> ratio {r:.2f}",
                    extra={"kitaru_s": best_k, "zenml_s": best_z},
                )
            )
        )
    return checks


if __name__ == "__main__":
    from _common import load, parse_args, temp_dir, write_json

    args = parse_args(__doc__ or "", reps=3)
    say(f"bench_cli reads: {args.reps} interleaved rounds ({load()})")
    with temp_dir("cli-reads") as tmp_dir:
        write_json(args.json, "bench_cli_reads", read_checks(tmp_dir, args.reps))
