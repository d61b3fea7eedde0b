"""Executions to list in the CLI read benchmarks: real flow runs, and SQL copies of them.

``run_flows`` runs a one-checkpoint kitaru flow (or a raw one-step ZenML pipeline)
``n`` times in one process on the given store. ``clone_runs`` then copies those
runs inside the store's database (new IDs and names, same metadata links) until
it holds ``total`` runs: 1,000 real runs would take most of an hour here, and a
listing reads the same rows either way.
"""

from __future__ import annotations

import sqlite3
import sys
import uuid
from pathlib import Path

from _common import run_timed

KITARU_SCRIPT = """
import sys, kitaru

@kitaru.checkpoint
def one(i: int) -> int:
    return i + 1

@kitaru.flow(name="bench-list")
def bench_list(i: int) -> int:
    return one(i)

for i in range(int(sys.argv[1])):
    bench_list.run(i).wait()
"""

ZENML_SCRIPT = """
import sys
from zenml import pipeline, step

@step
def one(i: int) -> int:
    return i + 1

@pipeline(name="bench-list")
def bench_list(i: int) -> None:
    one(i)

for i in range(int(sys.argv[1])):
    bench_list.with_options(enable_cache=False)(i)
"""


def run_flows(tool: str, n: int, env: dict[str, str], cwd: Path) -> None:
    """Run ``n`` executions of a one-step flow (``tool``: kitaru or zenml) on ``env``'s store."""
    script = cwd / f"seed_{tool}.py"
    script.write_text(KITARU_SCRIPT if tool == "kitaru" else ZENML_SCRIPT)
    run_timed([sys.executable, str(script), str(n)], env, cwd=cwd, timeout=600)


def clone_runs(db: Path, total: int) -> None:
    """Copy the store's runs (with their metadata links) until it holds ``total``."""
    conn = sqlite3.connect(db)
    try:
        conn.row_factory = sqlite3.Row
        originals = [dict(r) for r in conn.execute("SELECT * FROM pipeline_run")]
        links = [dict(r) for r in conn.execute("SELECT * FROM run_metadata_resource")]
        count = len(originals)
        while count < total:
            source = originals[count % len(originals)]
            new_id = uuid.uuid4().hex
            row = {
                **source,
                "id": new_id,
                "name": f"{source['name']}-copy-{count}",
                "orchestrator_run_id": new_id,
            }
            cols = ", ".join(f'"{c}"' for c in row)
            conn.execute(
                f"INSERT INTO pipeline_run ({cols}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            for link in links:
                if link["resource_id"] == source["id"]:
                    conn.execute(
                        "INSERT INTO run_metadata_resource (id, resource_id, resource_type, "
                        "run_metadata_id) VALUES (?, ?, ?, ?)",
                        (uuid.uuid4().hex, new_id, link["resource_type"], link["run_metadata_id"]),
                    )
            count += 1
        conn.commit()
    finally:
        conn.close()
