"""Server rows of ``bench_cli.py``: kitaru vs raw zenml against the same local server.

Starts a real ZenML server on 127.0.0.1 (the test suite's ``tests/_team_server.py``),
logs kitaru in with ``kitaru login`` and raw zenml with its documented headless
route (``ZENML_STORE_URL`` + username/password on the first run, persisted to its
own ``ZENML_CONFIG_PATH``), then times ``kitaru secrets list/set`` against
``zenml secret list/create``: cold processes, interleaved, order alternating,
min of N. Then the same with a service account's API key given to both
(``KITARU_API_KEY`` / ``ZENML_STORE_API_KEY``), as CI uses them. Against a server
kitaru speaks the REST API itself (no ZenML import). Last, ``kitaru stack list``
and ``kitaru executions list`` (3 executions on the server, both sides listing
the same runs) against raw ``zenml stack list`` / ``zenml pipeline runs list``
with the API key.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import (
    KITARU_BIN,
    REPO,
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
RUNS = 3  # executions on the server for the list row


def server_checks(tmp: Path, reps: int) -> list[Check]:
    sys.path.insert(0, str(REPO / "tests"))
    from _team_server import (
        ADMIN_PASSWORD,
        admin_finish,
        admin_setup,
        start_server,
        stop_all,
        wait_ready,
    )

    say("starting a local ZenML server ...")
    server = start_server(tmp / "server")
    try:
        wait_ready(server)
        admin_finish(server, admin_setup(server, {}, service_account="bench-bot"))
        assert server.api_key
        cwd = tmp / "cwd-server"
        cwd.mkdir()
        # Logged in with a password: kitaru login vs ZenML's headless first run.
        k_env = clean_env(KITARU_CONFIG_PATH=str(tmp / "kitaru-server"))
        z_env = clean_env(ZENML_CONFIG_PATH=str(tmp / "zenml-server"))
        subprocess.run(
            [KITARU_BIN, "login", server.url, "-u", "admin", "--stdin"],
            input=ADMIN_PASSWORD + "\n", env=k_env, cwd=cwd, check=True,
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        first = dict(
            z_env,
            ZENML_STORE_URL=server.url,
            ZENML_STORE_USERNAME="admin",
            ZENML_STORE_PASSWORD=ADMIN_PASSWORD,
        )
        run_timed([ZENML_BIN, "secret", "list"], first, cwd=cwd, timeout=TIMEOUT)
        # A service account's API key, the same key for both (CI's way in).
        k_key_env = clean_env(
            KITARU_CONFIG_PATH=str(tmp / "kitaru-key"),
            KITARU_SERVER_URL=server.url,
            KITARU_API_KEY=server.api_key,
        )
        z_key_env = clean_env(
            ZENML_CONFIG_PATH=str(tmp / "zenml-key"),
            ZENML_STORE_URL=server.url,
            ZENML_STORE_API_KEY=server.api_key,
        )
        checks = _paired(cwd, reps, "server", k_env, z_env)
        checks += _paired(cwd, reps, "server, API key", k_key_env, z_key_env)
        checks.append(_one_row(cwd, reps, k_key_env, z_key_env, "stack list", "stack list"))
        run_flows("kitaru", RUNS, k_key_env, cwd)  # runs both sides then list
        checks.append(
            _one_row(cwd, reps, k_key_env, z_key_env, "executions list", "pipeline runs list")
        )
        return checks
    finally:
        stop_all([server])


def _paired(
    cwd: Path, reps: int, label: str, k_env: dict[str, str], z_env: dict[str, str]
) -> list[Check]:
    """``kitaru secrets list/set`` vs ``zenml secret list/create``, interleaved, min of N."""
    tag = "".join(c for c in label if c.isalnum())[:12]
    sides = {
        "kitaru secrets list": (lambda i: [KITARU_BIN, "secrets", "list"], k_env),
        "zenml secret list": (lambda i: [ZENML_BIN, "secret", "list"], z_env),
        "kitaru secrets set": (
            lambda i: [KITARU_BIN, "secrets", "set", f"kb-{tag}-{i}", f"--API_KEY=v-{i}"],
            k_env,
        ),
        "zenml secret create": (
            lambda i: [ZENML_BIN, "secret", "create", f"zb-{tag}-{i}", f"--API_KEY=v-{i}"],
            z_env,
        ),
    }
    for make, env in sides.values():  # warm-up (untimed)
        run_timed(make(0), env, cwd=cwd, timeout=TIMEOUT)
    times: dict[str, list[float]] = {k: [] for k in sides}
    pairs = [
        ("kitaru secrets list", "zenml secret list"),
        ("kitaru secrets set", "zenml secret create"),
    ]
    for rep in range(reps):
        for a, b in pairs:
            for name in (a, b) if rep % 2 == 0 else (b, a):
                make, env = sides[name]
                wall, _ = run_timed(make(rep + 1), env, cwd=cwd, timeout=TIMEOUT)
                times[name].append(wall)
        say(
            f"  {label} round {rep + 1}: " + ", ".join(f"{k} {ms(v[-1])}" for k, v in times.items())
        )
    checks = []
    for k_name, z_name in pairs:
        best_k, best_z = min(times[k_name]), min(times[z_name])
        r = ratio(best_k, best_z)
        checks.append(
            report(
                Check(
                    name=f"{label}: `{k_name}` / `{z_name}`",
                    value=r,
                    shown=f"{r:.2f} ({ms(best_k)} / {ms(best_z)})",
                    target=f"<= {TARGET_RATIO}",
                    passed=r <= TARGET_RATIO,
                    detail=(
                        f"{label} {k_name}: {ms(best_k)} vs raw {z_name} {ms(best_z)} "
                        f"-> ratio {r:.2f}"
                    ),
                    extra={"kitaru_s": best_k, "zenml_s": best_z},
                )
            )
        )
    return checks


def _one_row(
    cwd: Path, reps: int, k_env: dict[str, str], z_env: dict[str, str], what: str, raw: str
) -> Check:
    """``kitaru WHAT`` (REST, no ZenML import) vs raw ``zenml RAW``, API key."""
    k_name, z_name = f"kitaru {what}", f"zenml {raw}"
    sides = {k_name: [KITARU_BIN, *what.split()], z_name: [ZENML_BIN, *raw.split()]}
    envs = {k_name: k_env, z_name: z_env}
    for name, cmd in sides.items():  # warm-up (untimed)
        run_timed(cmd, envs[name], cwd=cwd, timeout=TIMEOUT)
    times: dict[str, list[float]] = {k: [] for k in sides}
    for rep in range(reps):
        for name in list(sides) if rep % 2 == 0 else list(reversed(sides)):
            wall, _ = run_timed(sides[name], envs[name], cwd=cwd, timeout=TIMEOUT)
            times[name].append(wall)
    best_k, best_z = min(times[k_name]), min(times[z_name])
    r = ratio(best_k, best_z)
    return report(
        Check(
            name=f"server, API key: `{k_name}` / `{z_name}`",
            value=r,
            shown=f"{r:.2f} ({ms(best_k)} / {ms(best_z)})",
            target=f"<= {TARGET_RATIO}",
            passed=r <= TARGET_RATIO,
            detail=(
                f"server, API key {k_name}: {ms(best_k)} vs raw {z_name} "
                f"{ms(best_z)} -> ratio {r:.2f}"
            ),
            extra={"kitaru_s": best_k, "zenml_s": best_z},
        )
    )


if __name__ == "__main__":
    # Only the server rows: .venv/bin/python benchmarks/_cli_server.py [--reps N]
    from _common import parse_args, temp_dir, write_json

    args = parse_args(__doc__ or "", reps=5)
    with temp_dir("cli-server") as tmp_dir:
        write_json(args.json, "bench_cli_server", server_checks(tmp_dir, args.reps))
