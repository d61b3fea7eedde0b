"""Row for the dashboard hooks: a checkpoint's marginal cost with them on vs off, same build.

kitaru's dashboard hooks (``kitaru._zenml.step_code``: the user's source on each
step and flow, the user's line in errors, output views, reused steps) must add at
most 5 ms to a checkpoint's marginal cost. Two warm ``_flow_worker.py`` processes
of this build, each on its own fresh store: ``kitaru`` (hooks on) and
``kitaru_nohooks`` (ZenML's own code put back where the hooks replace it), driven
in lock-step, order alternating, min of ``--reps``. Marginal cost per checkpoint =
(best time at N=40 - best at N=10) / 30. On the embedded store (no server), as a
user without a dashboard runs.

    .venv/bin/python benchmarks/_dashboard_hooks.py [--reps 3]
"""

from __future__ import annotations

from _common import Check, clean_env, load, ms, parse_args, ratio, report, say, temp_dir
from bench_flow import N_HIGH, N_LOW, SETUP_TIMEOUT, Worker

TARGET_EXTRA_S = 5e-3


def main() -> None:
    args = parse_args(__doc__ or "", reps=3)
    reps = max(1, args.reps)
    say(f"dashboard hooks: N={N_LOW} vs N={N_HIGH}, min of {reps} ({load()})")
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    with temp_dir("hooks") as tmp:
        cwd = tmp / "cwd"
        cwd.mkdir()
        on = Worker(
            "on", "kitaru", clean_env(KITARU_CONFIG_PATH=str(tmp / "on")), cwd, tmp / "on.log"
        )
        off = Worker(
            "off",
            "kitaru_nohooks",
            clean_env(KITARU_CONFIG_PATH=str(tmp / "off")),
            cwd,
            tmp / "off.log",
        )
        try:
            for _ in range(2):  # warm-up: store creation, first runs (not measured)
                on.call(SETUP_TIMEOUT, op="flow", n=2)
                off.call(SETUP_TIMEOUT, op="flow", n=2)
            for rep in range(reps):
                pair = [(on, "on"), (off, "off")]
                for n in (N_LOW, N_HIGH):
                    for worker, label in pair if rep % 2 == 0 else pair[::-1]:
                        runs.setdefault((label, n), []).append(worker.call(op="flow", n=n))
                say(
                    f"  rep {rep + 1}: "
                    + ", ".join(
                        f"{lab} N={n} {runs[(lab, n)][-1]['wall']:.2f}s"
                        for lab in ("on", "off")
                        for n in (N_LOW, N_HIGH)
                    )
                )
        finally:
            on.close()
            off.close()

    def marginal(label: str, key: str = "wall") -> float:
        best = {n: min(float(r[key]) for r in runs[(label, n)]) for n in (N_LOW, N_HIGH)}
        return (best[N_HIGH] - best[N_LOW]) / (N_HIGH - N_LOW)

    on_s, off_s = marginal("on"), marginal("off")
    on_cpu, off_cpu = marginal("on", "cpu"), marginal("off", "cpu")
    extra = on_s - off_s
    report(
        Check(
            name="checkpoint marginal cost, dashboard hooks on - off",
            value=extra * 1000,
            target=f"extra <= {ms(TARGET_EXTRA_S)}",
            passed=extra <= TARGET_EXTRA_S,
            shown=f"{ms(extra)} ({ms(on_s)} / {ms(off_s)}, ratio {ratio(on_s, off_s):.2f})",
            detail=(
                f"checkpoint marginal cost: hooks on {ms(on_s)} vs off {ms(off_s)} -> extra "
                f"{ms(extra)} (ratio {ratio(on_s, off_s):.2f}); CPU {ms(on_cpu)} vs "
                f"{ms(off_cpu)} -> extra {ms(on_cpu - off_cpu)}"
            ),
        )
    )


if __name__ == "__main__":
    main()
