"""Import cost: ``import kitaru`` and ``kitaru --help`` vs ``import zenml``, fresh processes.

Targets: each under 0.15 s of wall time for the whole process (interpreter start
included), and neither pulls in zenml or litellm (checked in the child's
``sys.modules``). Prints the ratio to ``import zenml`` measured in the same run.

    .venv/bin/python benchmarks/bench_import.py [--reps 7] [--json out.json]
"""

from __future__ import annotations

import json

from _common import (
    KITARU_BIN,
    PY,
    Check,
    children_cpu,
    clean_env,
    ms,
    parse_args,
    ratio,
    report,
    run_timed,
    say,
    temp_dir,
    write_json,
)

TARGET_S = 0.15
FORBIDDEN = ("zenml", "litellm")
WATCHED = (*FORBIDDEN, "pydantic", "rich", "sqlalchemy", "mcp", "httpx", "requests", "wrapt")

_CHILD_IMPORT = """
import sys, time, json
t = time.perf_counter()
import {module}
dt = time.perf_counter() - t
top = sorted({{m.split('.')[0] for m in sys.modules}} & set({watched!r}))
print("BENCH " + json.dumps({{"import_s": dt, "modules": top}}))
"""

# Same as the console script (``from kitaru.cli import main; main()``), plus a dump
# of the loaded top-level packages at exit (click ends with sys.exit).
_CHILD_HELP = """
import atexit, json, sys
def _dump():
    top = sorted({{m.split('.')[0] for m in sys.modules}} & set({watched!r}))
    sys.stderr.write("BENCH " + json.dumps({{"modules": top}}) + "\\n")
atexit.register(_dump)
sys.argv = ["kitaru", "--help"]
from kitaru.cli import main
main()
"""


def _bench_line(text: str) -> dict[str, object]:
    for line in text.splitlines():
        if line.startswith("BENCH "):
            return dict(json.loads(line[len("BENCH ") :]))
    raise RuntimeError(f"child printed no BENCH line:\n{text[-2000:]}")


def main() -> None:
    args = parse_args(__doc__ or "", reps=7)
    checks: list[Check] = []
    with temp_dir("import") as tmp:
        # A config dir that does not exist yet: --help and import must not create it.
        env = clean_env(KITARU_CONFIG_PATH=str(tmp / "cfg"))
        kitaru_import_cmd = [PY, "-c", _CHILD_IMPORT.format(module="kitaru", watched=WATCHED)]
        zenml_import_cmd = [PY, "-c", _CHILD_IMPORT.format(module="zenml", watched=WATCHED)]
        help_cmd = [KITARU_BIN, "--help"]
        help_check_cmd = [PY, "-c", _CHILD_HELP.format(watched=WATCHED)]
        bare_cmd = [PY, "-c", "pass"]

        jobs = {
            "kitaru_import": kitaru_import_cmd,
            "kitaru_help": help_cmd,
            "zenml_import": zenml_import_cmd,
            "bare_python": bare_cmd,
        }
        walls: dict[str, list[float]] = {k: [] for k in jobs}
        cpus: dict[str, list[float]] = {k: [] for k in jobs}
        import_only: dict[str, list[float]] = {"kitaru_import": [], "zenml_import": []}
        modules: dict[str, list[str]] = {}

        for cmd in jobs.values():  # warm-up: .pyc files and the OS file cache
            run_timed(cmd, env, cwd=tmp)
        order = list(jobs)
        for rep in range(args.reps):
            # Rotate the order so no side always runs right after another.
            for name in order[rep % len(order) :] + order[: rep % len(order)]:
                cpu0 = children_cpu()
                wall, proc = run_timed(jobs[name], env, cwd=tmp)
                walls[name].append(wall)
                cpus[name].append(children_cpu() - cpu0)
                if name in import_only:
                    data = _bench_line(proc.stdout)
                    import_only[name].append(float(data["import_s"]))  # type: ignore[arg-type]
                    modules[name] = list(data["modules"])  # type: ignore[call-overload]
        _, proc = run_timed(help_check_cmd, env, cwd=tmp)
        modules["kitaru_help"] = list(_bench_line(proc.stderr)["modules"])  # type: ignore[call-overload]
        help_out = proc.stdout
        created = (tmp / "cfg").exists()

    best = {k: min(v) for k, v in walls.items()}
    cpu = {k: min(v) for k, v in cpus.items()}
    imp = {k: min(v) for k, v in import_only.items()}
    say(
        f"fresh-process wall times, min of {args.reps} "
        f"(bare `python -c pass`: {ms(best['bare_python'])})"
    )
    say(
        f"  import zenml: {ms(best['zenml_import'])} wall "
        f"(import statement {ms(imp['zenml_import'])})"
    )
    say(
        "  CPU (user+sys) per process, min: "
        + ", ".join(f"{k} {ms(v)}" for k, v in cpu.items())
        + " (less sensitive to machine load than wall time; info)"
    )
    say(f"  loaded by `import kitaru`: {', '.join(modules['kitaru_import']) or '-'}")
    say(f"  loaded by `kitaru --help`: {', '.join(modules['kitaru_help']) or '-'}")
    if "Usage:" not in help_out:
        say("  WARNING: `kitaru --help` printed no usage text")
    if created:
        say("  WARNING: import/--help created the kitaru config directory")

    k_imp, k_help, z_imp = best["kitaru_import"], best["kitaru_help"], best["zenml_import"]
    checks.append(
        report(
            Check(
                name="import kitaru (wall)",
                value=k_imp,
                shown=f"{ms(k_imp)} (zenml {ms(z_imp)}, ratio {ratio(k_imp, z_imp):.2f})",
                target=f"< {TARGET_S:.2f} s",
                passed=k_imp < TARGET_S,
                detail=(
                    f"import kitaru: {ms(k_imp)} wall "
                    f"(import statement {ms(imp['kitaru_import'])}) "
                    f"vs import zenml {ms(z_imp)} -> ratio {ratio(k_imp, z_imp):.2f}"
                ),
                extra={
                    "import_statement_s": imp["kitaru_import"],
                    "zenml_s": z_imp,
                    "cpu_s": cpu["kitaru_import"],
                },
            )
        )
    )
    checks.append(
        report(
            Check(
                name="kitaru --help (wall)",
                value=k_help,
                shown=f"{ms(k_help)} (ratio to zenml {ratio(k_help, z_imp):.2f})",
                target=f"< {TARGET_S:.2f} s",
                passed=k_help < TARGET_S,
                detail=(
                    f"kitaru --help: {ms(k_help)} wall vs import zenml {ms(z_imp)} "
                    f"-> ratio {ratio(k_help, z_imp):.2f}"
                ),
                extra={"zenml_s": z_imp, "cpu_s": cpu["kitaru_help"]},
            )
        )
    )
    for key, label in (("kitaru_import", "import kitaru"), ("kitaru_help", "kitaru --help")):
        bad = [m for m in modules[key] if m in FORBIDDEN]
        checks.append(
            report(
                Check(
                    name=f"{label} loads no zenml/litellm",
                    value=float(len(bad)),
                    shown=", ".join(bad) or "none",
                    target="none loaded",
                    passed=not bad,
                    detail=f"{label} loads zenml/litellm: {', '.join(bad) or 'none'}",
                )
            )
        )
    write_json(args.json, "bench_import", checks)


if __name__ == "__main__":
    main()
