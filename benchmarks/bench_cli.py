"""Cold CLI commands: ``kitaru secrets list/set`` vs raw ``zenml secret list/create``.

Each command runs in a fresh process against its own temp config directory with
a warm, existing store (kitaru via ``KITARU_CONFIG_PATH``, zenml via
``ZENML_CONFIG_PATH``; ``ZENML_ANALYTICS_OPT_IN=false`` for both). Runs are
interleaved and the order alternates each round; the figure is the min of N.
Target: kitaru / zenml <= 0.8 for each command.

Then the commands that need no ZenML import (``_cli_reads.py``: stack, model,
status, secrets rename/--remove-key vs raw ``zenml stack list`` and ``zenml
secret rename/update``) and the same secrets commands against a real local
ZenML server, with a password login and with a service account's API key
(``_cli_server.py``): target kitaru / zenml <= 0.15.

If a target is missed (or with ``--profile always``), the kitaru cold path is
broken down: time per phase, ``python -X importtime`` top offenders, and a
cProfile top list.

    .venv/bin/python benchmarks/bench_cli.py [--reps 5] [--profile auto|always|never]
"""

from __future__ import annotations

import statistics
from pathlib import Path

from _common import (
    KITARU_BIN,
    PY,
    ZENML_BIN,
    Check,
    children_cpu,
    clean_env,
    load,
    ms,
    parse_args,
    ratio,
    report,
    run_timed,
    say,
    table,
    temp_dir,
    write_json,
)

TARGET_RATIO = 0.8
TIMEOUT = 240.0


def main() -> None:
    args = parse_args(__doc__ or "", reps=5)
    checks: list[Check] = []
    say(f"bench_cli: {args.reps} interleaved rounds ({load()})")
    with temp_dir("cli") as tmp:
        k_env = clean_env(KITARU_CONFIG_PATH=str(tmp / "kitaru"))
        z_env = clean_env(ZENML_CONFIG_PATH=str(tmp / "zenml"))
        cwd = tmp / "cwd"  # no .zen / .kitaru project dir in sight
        cwd.mkdir()

        # Create both stores (the expensive first run), then warm each command once.
        say("creating both stores ...")
        run_timed(
            [KITARU_BIN, "secrets", "set", "warm", "--WARM_KEY=v0"], k_env, cwd=cwd, timeout=TIMEOUT
        )
        run_timed(
            [ZENML_BIN, "secret", "create", "warm", "--WARM_KEY=v0"],
            z_env,
            cwd=cwd,
            timeout=TIMEOUT,
        )

        def kitaru_list(_: int) -> list[str]:
            return [KITARU_BIN, "secrets", "list"]

        def zenml_list(_: int) -> list[str]:
            return [ZENML_BIN, "secret", "list"]

        def kitaru_set(i: int) -> list[str]:
            return [KITARU_BIN, "secrets", "set", f"bench-{i}", f"--API_KEY=value-{i}"]

        def zenml_set(i: int) -> list[str]:
            return [ZENML_BIN, "secret", "create", f"bench-{i}", f"--API_KEY=value-{i}"]

        sides = {
            "kitaru secrets list": (kitaru_list, k_env),
            "zenml secret list": (zenml_list, z_env),
            "kitaru secrets set": (kitaru_set, k_env),
            "zenml secret create": (zenml_set, z_env),
        }
        for make, env in sides.values():  # warm-up (untimed)
            run_timed(make(0), env, cwd=cwd, timeout=TIMEOUT)

        times: dict[str, list[float]] = {k: [] for k in sides}
        cpus: dict[str, list[float]] = {k: [] for k in sides}
        for rep in range(args.reps):
            pairs = [
                ("kitaru secrets list", "zenml secret list"),
                ("kitaru secrets set", "zenml secret create"),
            ]
            for a, b in pairs:
                for name in (a, b) if rep % 2 == 0 else (b, a):
                    make, env = sides[name]
                    cpu0 = children_cpu()
                    wall, _ = run_timed(make(rep + 1), env, cwd=cwd, timeout=TIMEOUT)
                    times[name].append(wall)
                    cpus[name].append(children_cpu() - cpu0)
            say(f"  round {rep + 1}: " + ", ".join(f"{k} {ms(v[-1])}" for k, v in times.items()))

        # Sanity: both stores hold what was written.
        _, k_out = run_timed(kitaru_list(0), k_env, cwd=cwd)
        _, z_out = run_timed(zenml_list(0), z_env, cwd=cwd)
        for label, out in (("kitaru", k_out.stdout), ("zenml", z_out.stdout)):
            if "bench-1" not in out:
                say(f"  WARNING: {label} list does not show bench-1")

        best = {k: min(v) for k, v in times.items()}
        cpu = {k: min(v) for k, v in cpus.items()}
        for k_name, z_name in (
            ("kitaru secrets list", "zenml secret list"),
            ("kitaru secrets set", "zenml secret create"),
        ):
            r = ratio(best[k_name], best[z_name])
            checks.append(
                report(
                    Check(
                        name=f"`{k_name}` / `{z_name}`",
                        value=r,
                        shown=f"{r:.2f} ({ms(best[k_name])} / {ms(best[z_name])})",
                        target=f"<= {TARGET_RATIO}",
                        passed=r <= TARGET_RATIO,
                        detail=(
                            f"{k_name}: {ms(best[k_name])} vs raw {z_name} {ms(best[z_name])} "
                            f"-> ratio {r:.2f}"
                        ),
                        extra={
                            "kitaru_s": best[k_name],
                            "zenml_s": best[z_name],
                            "kitaru_cpu_s": cpu[k_name],
                            "zenml_cpu_s": cpu[z_name],
                        },
                    )
                )
            )
            med_k, med_z = statistics.median(times[k_name]), statistics.median(times[z_name])
            say(
                f"  (info: CPU user+sys {ms(cpu[k_name])} vs {ms(cpu[z_name])} -> ratio "
                f"{ratio(cpu[k_name], cpu[z_name]):.2f}; median wall ratio "
                f"{ratio(med_k, med_z):.2f})"
            )

        from _cli_list_scale import scale_checks
        from _cli_reads import read_checks
        from _cli_server import server_checks

        checks.extend(read_checks(tmp, args.reps))
        checks.extend(scale_checks(tmp, args.reps))
        checks.extend(server_checks(tmp, args.reps))
        missed = any(not c.passed for c in checks)
        if args.profile == "always" or (args.profile == "auto" and missed):
            profile(tmp, k_env, z_env, cwd)
    write_json(args.json, "bench_cli", checks)


# --------------------------------------------------------------------------- profiling

# Phase scripts: each phase's (CPU, wall) seconds. They call kitaru only through
# stable entry points (get_client, list_secrets), so internal changes do not break them.
_PHASES_COMMON = r"""
import json, sys, time
out = {}
_t = [time.process_time(), time.perf_counter()]
def mark(name):
    now = [time.process_time(), time.perf_counter()]
    out[name] = [now[0] - _t[0], now[1] - _t[1]]
    _t[:] = [time.process_time(), time.perf_counter()]
"""

_PHASES_KITARU = (
    _PHASES_COMMON
    + r"""
import kitaru.cli; mark("import kitaru (package + CLI)")
from kitaru._zenml import client as c
if hasattr(c, "apply_environment"):
    c.apply_environment()
if hasattr(c, "_import_zenml_keeping_logging"):
    c._import_zenml_keeping_logging()
else:
    import zenml
mark("import zenml (package)")
import zenml.client, zenml.zen_stores.sql_zen_store; mark("import SQL zen store + schemas")
import sqlalchemy.orm; sqlalchemy.orm.configure_mappers(); mark("SQLAlchemy mapper configuration")
c.get_client(); mark("get_client(): store init, key check, tuning")
from kitaru.secrets import list_secrets
items = list_secrets(); mark("list_secrets()")
import io, contextlib
from kitaru.cli._base import print_table
with contextlib.redirect_stdout(io.StringIO()):
    print_table(None, ["Name", "ID", "Visibility", "Keys"],
                [(s.name, s.id, s.visibility, ", ".join(s.keys)) for s in items])
mark("render table (rich)")
print("BENCH " + json.dumps(out))
"""
)

_PHASES_ZENML = (
    _PHASES_COMMON
    + r"""
import zenml; mark("import zenml (package)")
import zenml.cli; mark("import zenml.cli (command tree)")
import zenml.client, zenml.zen_stores.sql_zen_store; mark("import SQL zen store + schemas")
import sqlalchemy.orm; sqlalchemy.orm.configure_mappers(); mark("SQLAlchemy mapper configuration")
client = zenml.client.Client(); client.zen_store; mark("Client().zen_store: store init")
client.list_secrets(); mark("list_secrets()")
print("BENCH " + json.dumps(out))
"""
)


def _phases(
    code: str, env: dict[str, str], cwd: Path, reps: int = 3
) -> dict[str, tuple[float, float]]:
    """Min over ``reps`` fresh processes of each phase's (CPU, wall) seconds."""
    import json

    best: dict[str, tuple[float, float]] = {}
    for _ in range(reps):
        _, proc = run_timed([PY, "-c", code], env, cwd=cwd, timeout=TIMEOUT)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("BENCH "))
        for k, (cpu, wall) in json.loads(line[6:]).items():
            old = best.get(k, (cpu, wall))
            best[k] = (min(old[0], cpu), min(old[1], wall))
    return best


def _phase_table(title: str, phases: dict[str, tuple[float, float]]) -> str:
    rows = [(n, ms(c), ms(w)) for n, (c, w) in phases.items()]
    rows.append(
        ("total", ms(sum(c for c, _ in phases.values())), ms(sum(w for _, w in phases.values())))
    )
    return table([title, "CPU", "wall"], rows)


def _importtime(
    env: dict[str, str], cwd: Path, top: int = 15
) -> tuple[float, list[tuple[int, str]]]:
    code = (
        "import sys; sys.argv = ['kitaru', 'secrets', 'list']\nfrom kitaru.cli import main\nmain()"
    )
    _, proc = run_timed([PY, "-X", "importtime", "-c", code], env, cwd=cwd, timeout=TIMEOUT)
    rows: list[tuple[int, int, str]] = []  # (cumulative us, depth, name)
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        raw = line.split("|")
        name = raw[2].rstrip()
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(raw[1]), depth, name.strip()))
    total = sum(c for c, d, _ in rows if d == 0) / 1e6
    # The biggest imports below the top level that are not inside one another.
    heavy = sorted(((c, n) for c, d, n in rows if d >= 1), reverse=True)
    chosen: list[tuple[int, str]] = []
    for c, n in heavy:
        if any(n.startswith(p + ".") or n == p for _, p in chosen):
            continue
        chosen.append((c, n))
        if len(chosen) >= top:
            break
    return total, chosen


def _cprofile(env: dict[str, str], cwd: Path, tmp: Path, top: int = 20) -> str:
    """cProfile of ``python -m kitaru secrets list``, without import/click/runpy frames."""
    import io
    import pstats

    prof = tmp / "kitaru-list.prof"
    run_timed(
        [PY, "-m", "cProfile", "-o", str(prof), "-m", "kitaru", "secrets", "list"],
        env,
        cwd=cwd,
        timeout=TIMEOUT,
    )
    site = str(Path(PY).parent.parent)
    out: list[str] = []
    for title, key, restrict in (
        ("top by cumulative time, kitaru and zenml functions", "cumulative", r"(kitaru|zenml)/"),
        ("top by own time, all functions", "tottime", r"."),
    ):
        buf = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buf)
        stats.sort_stats(key).print_stats(restrict, top)
        lines = [x for x in buf.getvalue().splitlines() if x.strip()]
        start = next((i for i, x in enumerate(lines) if "ncalls" in x), 0)
        out.append(f"-- {title}:")
        out.extend(x.replace(site, "<venv>") for x in lines[start:])
    return "\n".join(out)


def profile(tmp: Path, k_env: dict[str, str], z_env: dict[str, str], cwd: Path) -> None:
    say()
    say("profile of the cold `kitaru secrets list` path (min of 3 fresh processes per phase):")
    k = _phases(_PHASES_KITARU, k_env, cwd)
    z = _phases(_PHASES_ZENML, z_env, cwd)
    say(_phase_table("kitaru phase", k))
    say()
    say(_phase_table("raw zenml phase (its own store)", z))
    total, heavy = _importtime(k_env, cwd)
    say()
    say(f"python -X importtime, `kitaru secrets list`: {total:.2f} s of imports; biggest:")
    say(table(["cumulative", "module"], [(ms(c / 1e6), n) for c, n in heavy]))
    say()
    say("cProfile, `python -m kitaru secrets list` (one run; profiling inflates times):")
    say(_cprofile(k_env, cwd, tmp))


if __name__ == "__main__":
    main()
