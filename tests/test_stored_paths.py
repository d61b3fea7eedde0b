"""New records name kitaru's public import paths (``kitaru.zenml_sources``), which load.

ZenML stores import paths in users' stores: each snapshot's pipeline and step
sources, the keyed secrets store's class path in ``config.yaml``, a registered
flavor's source. They must name the public module, whose names never move, so
that a store outlives a re-layout of kitaru's files (records written before the
public module existed are covered by ``test_pre_move_store.py``). Everything
runs in real processes on a store of this module's own.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import PYTHON, run_cli

PUBLIC = "kitaru.zenml_sources"

LOAD_SCRIPT = """
import json
import sys

import kitaru.zenml_sources as public

# Importing the public module costs nothing: each name loads on first use.
heavy = sorted(m for m in ("zenml", "kitaru._zenml.pipelines") if m in sys.modules)

from kitaru._zenml.client import get_client

get_client()
from zenml.utils import source_utils

from kitaru._zenml import keyed_store, pipelines, subprocess_orchestrator

homes = {
    "kitaru_flow": pipelines,
    "kitaru_checkpoint": pipelines,
    "kitaru_isolated_checkpoint": pipelines,
    "KitaruSqlSecretsStore": keyed_store,
    "SubprocessOrchestratorFlavor": subprocess_orchestrator,
}
same = {n: source_utils.load(public.__name__ + "." + n) is getattr(homes[n], n) for n in homes}
resolved = {
    "kitaru_flow": source_utils.resolve(pipelines.kitaru_flow).import_path,
    "kitaru_checkpoint": pipelines.kitaru_checkpoint.resolve().import_path,
    "kitaru_isolated_checkpoint": pipelines.kitaru_isolated_checkpoint.resolve().import_path,
    "SubprocessOrchestratorFlavor": source_utils.resolve(
        subprocess_orchestrator.SubprocessOrchestratorFlavor
    ).import_path,
}
print(json.dumps({"all": sorted(public.__all__), "heavy": heavy, "same": same,
                  "resolved": resolved}))
"""

FLOW_SCRIPT = """
import kitaru


@kitaru.checkpoint
def double(x: int) -> int:
    return x * 2


@kitaru.flow(name="stored_paths_flow")
def stored_paths_flow(x: int) -> int:
    return double(x) + 1


print("RESULT", stored_paths_flow(20))
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config directory of this module's own (its records are read from SQLite)."""
    return tmp_path_factory.mktemp("stored-paths") / "config"


def _env(store: Path) -> dict[str, str]:
    return {**os.environ, "KITARU_CONFIG_PATH": str(store)}


def _db(store: Path) -> sqlite3.Connection:
    return sqlite3.connect(store / "zenml" / "local_stores" / "default_zen_store" / "zenml.db")


def test_every_public_name_loads_the_object_and_zenml_resolves_it_there(
    store: Path, tmp_path: Path
) -> None:
    script = tmp_path / "load_public.py"  # a file: ZenML finds a source root from it
    script.write_text(LOAD_SCRIPT)
    res = subprocess.run(
        [PYTHON, str(script)], capture_output=True, text=True, env=_env(store), timeout=180
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []
    assert out["all"] == sorted(out["same"])
    assert all(out["same"].values()), out["same"]
    assert out["resolved"] == {name: f"{PUBLIC}.{name}" for name in out["resolved"]}


def test_a_new_run_records_the_public_pipeline_and_step_sources(
    store: Path, tmp_path: Path
) -> None:
    (tmp_path / "new_flow.py").write_text(FLOW_SCRIPT)
    res = subprocess.run(
        [PYTHON, "new_flow.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(store),
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "RESULT 41" in res.stdout
    con = _db(store)
    try:
        specs = [
            json.loads(r[0]) for r in con.execute("SELECT pipeline_spec FROM pipeline_snapshot")
        ]
        steps = [json.loads(r[0]) for r in con.execute("SELECT config FROM step_configuration")]
    finally:
        con.close()
    assert [s["source"]["module"] for s in specs] == [PUBLIC]
    assert specs[0]["source"]["attribute"] == "kitaru_flow"
    sources = {f"{s['spec']['source']['module']}.{s['spec']['source']['attribute']}" for s in steps}
    assert sources == {f"{PUBLIC}.kitaru_checkpoint"}


def test_a_new_store_names_the_public_keyed_store_and_its_secrets_load(
    store: Path, unique: str, canary: str
) -> None:
    name = f"stored-paths-{unique}"
    env = {"KITARU_CONFIG_PATH": str(store)}
    assert run_cli("secrets", "set", name, f"--TOKEN={canary}", env=env).returncode == 0
    config = yaml.safe_load((store / "zenml" / "config.yaml").read_text())
    assert config["store"]["secrets_store"]["class_path"] == f"{PUBLIC}.KitaruSqlSecretsStore"
    shown = run_cli("secrets", "show", name, "--show-values", "-o", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert canary in shown.stdout


def test_a_new_subprocess_stack_registers_the_public_flavor_source(store: Path) -> None:
    env = {"KITARU_CONFIG_PATH": str(store)}
    res = run_cli(
        "stack", "create", "stored-paths-sub", "--orchestrator", "kitaru_subprocess", env=env
    )
    assert res.returncode == 0, res.stderr
    con = _db(store)
    try:
        rows = con.execute("SELECT source FROM flavor WHERE name = 'kitaru_subprocess'").fetchall()
    finally:
        con.close()
    assert rows == [(f"{PUBLIC}.SubprocessOrchestratorFlavor",)]


def test_kitarus_steps_are_recognised_by_the_sources_old_records_name(tmp_path: Path) -> None:
    """The step sources of a store written before the public module: still kitaru's steps.

    What the dashboard's Code tab and a replay's ``kitaru_reused_from`` card rely
    on (``step_code``, ``reused_steps``), read from the pre-move fixture itself.
    """
    from kitaru._zenml.stored_paths import STEP_PATHS

    fixture = Path(__file__).resolve().parent / "fixtures" / "pre_move_store.tar.xz"
    with tarfile.open(fixture) as tar:
        tar.extractall(tmp_path, filter="data")
    con = sqlite3.connect(
        tmp_path / "config" / "zenml" / "local_stores" / "default_zen_store" / "zenml.db"
    )
    try:
        configs = [json.loads(r[0]) for r in con.execute("SELECT config FROM step_configuration")]
    finally:
        con.close()
    old = {f"{c['spec']['source']['module']}.{c['spec']['source']['attribute']}" for c in configs}
    assert old == {"kitaru._zenml.pipelines.kitaru_checkpoint"}
    assert old <= STEP_PATHS
    assert f"{PUBLIC}.kitaru_checkpoint" in STEP_PATHS
    assert {f"{m}.kitaru_isolated_checkpoint" for m in (PUBLIC, "kitaru._zenml.pipelines")} <= (
        STEP_PATHS
    )


def test_a_store_made_from_a_template_of_before_names_the_public_keyed_store(
    store: Path, tmp_path: Path, unique: str
) -> None:
    """A store template cached by an older kitaru still gives new stores the public name."""
    session_cache = Path(os.environ["KITARU_CACHE_DIR"]) / "store-template"
    if not any(session_cache.glob("zenml-*/config.yaml")):
        run_cli("secrets", "list", env={"KITARU_CONFIG_PATH": str(store)})  # builds it
    (built,) = session_cache.glob("zenml-*")
    cache = tmp_path / "cache"
    old_template = cache / "store-template" / built.name
    shutil.copytree(built, old_template)
    config_file = old_template / "config.yaml"
    text = config_file.read_text()
    assert f"{PUBLIC}.KitaruSqlSecretsStore" in text
    config_file.write_text(
        text.replace(
            f"{PUBLIC}.KitaruSqlSecretsStore", "kitaru._zenml.keyed_store.KitaruSqlSecretsStore"
        )
    )
    config = tmp_path / "config"
    env = {"KITARU_CONFIG_PATH": str(config), "KITARU_CACHE_DIR": str(cache)}
    res = run_cli("secrets", "set", f"templated-{unique}", "--TOKEN=x", env=env)
    assert res.returncode == 0, res.stderr
    made = yaml.safe_load((config / "zenml" / "config.yaml").read_text())
    assert made["store"]["secrets_store"]["class_path"] == f"{PUBLIC}.KitaruSqlSecretsStore"
