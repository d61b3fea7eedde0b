"""One flow on the fresh-process orchestrator vs a raw ZenML pipeline on the same one.

Both run on a ``kitaru_subprocess`` stack (synchronous, no mount namespace, this
venv's interpreter), so each run pays what a remote orchestrator's container
pays: a new interpreter, ZenML's entrypoint, the code archive, store access. The
kitaru flow has two checkpoints; the raw pipeline two default ``@step``s. Runs
alternate; the figure is the min over ``--reps`` of submit-to-result wall time.
Target: the kitaru flow within 1.3x the raw pipeline.

    .venv/bin/python benchmarks/bench_remote.py [--reps 2] [--json out.json]
"""

from __future__ import annotations

import json
import subprocess
import textwrap

from _common import PY, Check, clean_env, parse_args, ratio, report, say, temp_dir, write_json

TARGET = 1.3

FLOWS = """
import kitaru
from zenml import pipeline, step


@kitaru.checkpoint
def add(a: int, b: int) -> int:
    return a + b


@kitaru.flow(name="bench-remote-kitaru")
def kitaru_flow(n: int) -> int:
    return add(add(n, 1), 2)


@step
def raw_add(a: int, b: int) -> int:
    return a + b


@pipeline(dynamic=True, name="bench-remote-raw")
def raw_pipeline(n: int) -> None:
    raw_add(raw_add(n, 1), 2)
"""

DRIVER = """
import json, sys, time
from kitaru._zenml import stacks
from kitaru._zenml.client import get_client

get_client()
stacks.create_stack("bench-fresh", "kitaru_subprocess",
                    options={"isolate": "false", "synchronous": "true"})
import bench_flows

reps = int(sys.argv[1])
times = {"raw": [], "kitaru": []}
for _ in range(reps):
    with stacks.selected("bench-fresh"):
        t = time.perf_counter()
        run = bench_flows.raw_pipeline(3)
        times["raw"].append(time.perf_counter() - t)
        assert str(run.status.value if hasattr(run.status, "value") else run.status) in (
            "completed", "running", "initializing", "provisioning"), run.status
    t = time.perf_counter()
    assert bench_flows.kitaru_flow.run(3, stack="bench-fresh").wait() == 6
    times["kitaru"].append(time.perf_counter() - t)
print("RESULT " + json.dumps(times))
"""


def main() -> None:
    args = parse_args(__doc__ or "", reps=2)
    with temp_dir("remote") as tmp:
        proj = tmp / "proj"
        proj.mkdir()
        (proj / "bench_flows.py").write_text(FLOWS)
        (proj / "driver.py").write_text(textwrap.dedent(DRIVER))
        env = clean_env(KITARU_CONFIG_PATH=str(tmp / "config"), KITARU_SOURCE_ROOT=str(proj))
        proc = subprocess.run(
            [PY, "driver.py", str(args.reps)],
            cwd=proj,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if proc.returncode != 0:
            say(proc.stdout[-3000:])
            say(proc.stderr[-3000:])
            raise SystemExit(2)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
        times = json.loads(line[len("RESULT ") :])
    raw, kit = min(times["raw"]), min(times["kitaru"])
    value = ratio(kit, raw)
    shown = {k: ", ".join(f"{t:.1f}" for t in v) for k, v in times.items()}
    say(f"  raw runs: {shown['raw']} s; kitaru runs: {shown['kitaru']} s")
    check = report(
        Check(
            name="flow on the fresh-process orchestrator / raw pipeline there",
            value=value,
            target=f"<= {TARGET}",
            passed=value <= TARGET,
            detail=(
                f"fresh-process orchestrator: kitaru flow {kit:.1f} s vs raw ZenML pipeline "
                f"{raw:.1f} s -> ratio {value:.2f}"
            ),
            shown=f"{value:.2f} ({kit:.1f} s / {raw:.1f} s)",
        )
    )
    write_json(args.json, "bench_remote.py", [check])


if __name__ == "__main__":
    main()
