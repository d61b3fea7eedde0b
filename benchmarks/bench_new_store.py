"""The first command on a new config dir: ``kitaru secrets set`` vs raw ``zenml secret create``.

Each round gives both tools a brand-new config directory (kitaru via
``KITARU_CONFIG_PATH``, zenml via ``ZENML_CONFIG_PATH``; analytics off) and times
the first command, which creates the store. kitaru copies a store template that
is built once per installed ZenML version; it is built once before the rounds
(untimed, as on a machine where kitaru was used before, but timed as info) in a
cache directory of this run. Runs are interleaved, the order alternates each
round; the figure is the min of N. Target: kitaru / zenml <= 0.25.

    .venv/bin/python benchmarks/bench_new_store.py [--reps 3]
"""

from __future__ import annotations

from _common import (
    KITARU_BIN,
    ZENML_BIN,
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

TARGET_RATIO = 0.25
TIMEOUT = 300.0


def main() -> None:
    args = parse_args(__doc__ or "", reps=3)
    say(f"bench_new_store: {args.reps} interleaved rounds ({load()})")
    with temp_dir("new-store") as tmp:
        cwd = tmp / "cwd"
        cwd.mkdir()
        cache = str(tmp / "cache")

        def kitaru(i: int) -> tuple[list[str], dict[str, str]]:
            env = clean_env(KITARU_CONFIG_PATH=str(tmp / f"kitaru-{i}"), KITARU_CACHE_DIR=cache)
            return [KITARU_BIN, "secrets", "set", "first", "--API_KEY=v"], env

        def zenml(i: int) -> tuple[list[str], dict[str, str]]:
            env = clean_env(ZENML_CONFIG_PATH=str(tmp / f"zenml-{i}"))
            return [ZENML_BIN, "secret", "create", "first", "--API_KEY=v"], env

        cmd, env = kitaru(0)
        cold, _ = run_timed(cmd, env, cwd=cwd, timeout=TIMEOUT)
        say(f"  (info: the very first kitaru command, building the template: {ms(cold)})")

        times: dict[str, list[float]] = {"kitaru": [], "zenml": []}
        sides = {"kitaru": kitaru, "zenml": zenml}
        for rep in range(args.reps):
            for name in ("kitaru", "zenml") if rep % 2 == 0 else ("zenml", "kitaru"):
                cmd, env = sides[name](rep + 1)
                wall, _ = run_timed(cmd, env, cwd=cwd, timeout=TIMEOUT)
                times[name].append(wall)
            say(f"  round {rep + 1}: " + ", ".join(f"{k} {ms(v[-1])}" for k, v in times.items()))

        best_k, best_z = min(times["kitaru"]), min(times["zenml"])
        r = ratio(best_k, best_z)
        check = report(
            Check(
                name="first command on a new config dir / raw `zenml secret create` on a new store",
                value=r,
                shown=f"{r:.2f} ({ms(best_k)} / {ms(best_z)})",
                target=f"<= {TARGET_RATIO}",
                passed=r <= TARGET_RATIO,
                detail=(
                    f"first `kitaru secrets set` on a new config dir: {ms(best_k)} vs raw "
                    f"`zenml secret create` on a new store {ms(best_z)} -> ratio {r:.2f}"
                ),
                extra={"kitaru_s": best_k, "zenml_s": best_z, "template_build_s": cold},
            )
        )
    write_json(args.json, "bench_new_store", [check])


if __name__ == "__main__":
    main()
