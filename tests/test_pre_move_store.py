"""A store written before kitaru's files moved still loads, and its failed execution retries.

ZenML stores import paths: every snapshot names its pipeline's source
(``kitaru_flow``) and its steps' (``kitaru_checkpoint``), the store's config names
the keyed secrets store's class, and a registered ``kitaru_subprocess`` flavor
names its class. ``tests/fixtures/pre_move_store.tar.xz`` is a user's store and
project written by kitaru before the re-layout (``make_pre_move_store.py`` says
how); this test opens it with today's code, through the CLI only.

The store records absolute paths (its database's location, the project root a
flow is imported from, artifact URIs): the test moves it to a temp folder the
way a user's restored backup would be, by replacing the original root with the
new one in the config files and in every text value of the database.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PYTHON, run_cli

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pre_move_store.tar.xz"


@dataclass
class OldStore:
    """The fixture, unpacked at ``root`` and moved there."""

    root: Path
    facts: dict[str, Any]
    config_yaml: str  # ZenML's config.yaml as unpacked (opening the store may rewrite it)

    @property
    def env(self) -> dict[str, str]:
        return {"KITARU_CONFIG_PATH": str(self.root / "config")}

    @property
    def database(self) -> Path:
        return store_db(self.root)

    def kitaru(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, timeout=300)

    def json(self, *args: str) -> Any:
        res = self.kitaru(*args, "-o", "json")
        assert res.returncode == 0, f"kitaru {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
        return json.loads(res.stdout)

    def marks(self) -> Counter[str]:
        return Counter((self.root / "project" / "marks").read_text().split())


def store_db(root: Path) -> Path:
    """The embedded store's SQLite database under fixture root ``root``."""
    return root / "config" / "zenml" / "local_stores" / "default_zen_store" / "zenml.db"


def _text_columns(con: sqlite3.Connection) -> Iterator[tuple[str, str]]:
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for column in con.execute(f'PRAGMA table_info("{table}")'):
            yield table, column[1]


def move_store(root: Path, old: str) -> None:
    """Replace ``old`` (the root the fixture was written at) with ``root`` everywhere."""
    new = str(root)
    for path in (root / "config").rglob("*"):
        if path.suffix in {".yaml", ".json"} and path.is_file():
            path.write_text(path.read_text().replace(old, new))
    con = sqlite3.connect(store_db(root))
    try:
        with con:
            for table, column in _text_columns(con):
                con.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (old, new, old),
                )
        left = [
            (t, c)
            for t, c in _text_columns(con)
            if con.execute(
                f'SELECT count(*) FROM "{t}" WHERE instr(CAST("{c}" AS TEXT), ?) > 0', (old,)
            ).fetchone()[0]
        ]
    finally:
        con.close()
    assert not left, f"the old root is still in {left}"


LOAD_PROBE = """
import json
import sys

from zenml.utils import source_utils

cls = source_utils.load(sys.argv[1])
flavor = getattr(cls(), "name", None) if cls.__name__.endswith("Flavor") else None
print(json.dumps({"mro": [c.__name__ for c in cls.__mro__], "flavor": flavor}))
"""


def load_in_fresh_process(store: OldStore, source: str) -> dict[str, Any]:
    """Load ``source`` with ZenML in a new interpreter, as ZenML loads a stored path."""
    script = store.root / "load_source.py"  # a file: ZenML finds a source root from it
    script.write_text(LOAD_PROBE)
    env = {**os.environ, **store.env}
    res = subprocess.run(
        [PYTHON, str(script), source], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr
    loaded: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return loaded


@pytest.fixture(scope="module")
def old_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldStore]:
    root = tmp_path_factory.mktemp("pre-move")
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(root, filter="data")
    facts = json.loads((root / "fixture.json").read_text())
    move_store(root, facts["original_root"])
    yield OldStore(root, facts, (root / "config" / "zenml" / "config.yaml").read_text())
    shutil.rmtree(root, ignore_errors=True)


def test_the_fixture_holds_a_failed_execution_and_old_import_paths(old_store: OldStore) -> None:
    # What the rest of this module relies on: the store names the paths of before.
    assert "kitaru._zenml.keyed_store.KitaruSqlSecretsStore" in old_store.config_yaml
    con = sqlite3.connect(old_store.database)
    try:
        (spec,) = con.execute("SELECT pipeline_spec FROM pipeline_snapshot").fetchone()
        steps = [r[0] for r in con.execute("SELECT config FROM step_configuration")]
    finally:
        con.close()
    assert json.loads(spec)["source"] == {
        "attribute": "kitaru_flow",
        "module": "kitaru._zenml.pipelines",
        "type": "unknown",
    }
    assert steps and all("kitaru._zenml.pipelines" in s for s in steps)
    assert old_store.marks() == Counter({"fetch": 1, "combine": 1})


def test_executions_list_shows_the_old_failed_execution(old_store: OldStore) -> None:
    rows = old_store.json("executions", "list")
    mine = [r for r in rows if r["id"] == old_store.facts["execution_id"]]
    assert len(mine) == 1, rows
    assert mine[0]["flow"] == old_store.facts["flow"]
    assert mine[0]["status"] in {"failed", "completed"}  # completed once the retry below ran


def test_the_old_secret_loads_through_the_keyed_store(old_store: OldStore) -> None:
    res = old_store.kitaru("secrets", "show", old_store.facts["secret"])
    assert res.returncode == 0, res.stderr
    assert old_store.facts["secret"] in res.stdout
    assert old_store.facts["secret_key"] in res.stdout
    assert old_store.facts["secret_value"] not in res.stdout + res.stderr
    shown = old_store.json("secrets", "show", old_store.facts["secret"], "--show-values")
    assert old_store.facts["secret_value"] in json.dumps(shown), "the value decrypts"


def test_the_old_subprocess_stack_is_listed_and_its_flavor_loads(old_store: OldStore) -> None:
    stacks = {s["name"]: s for s in old_store.json("stack", "list")}
    assert stacks[old_store.facts["stack"]]["orchestrator"] == "kitaru_subprocess", stacks
    con = sqlite3.connect(old_store.database)
    try:
        (source,) = con.execute(
            "SELECT source FROM flavor WHERE name = 'kitaru_subprocess'"
        ).fetchone()
    finally:
        con.close()
    # What ZenML does with a stack component of this flavor: load the stored source.
    loaded = load_in_fresh_process(old_store, source)
    assert loaded["mro"][:2] == ["SubprocessOrchestratorFlavor", "BaseOrchestratorFlavor"]
    assert loaded["flavor"] == "kitaru_subprocess", loaded


def test_the_old_configs_secrets_store_class_loads(old_store: OldStore) -> None:
    # A plain ``zenml`` process on this config directory loads the class it names.
    config = yaml.safe_load(old_store.config_yaml)
    loaded = load_in_fresh_process(old_store, config["store"]["secrets_store"]["class_path"])
    assert loaded["mro"][:2] == ["KitaruSqlSecretsStore", "SqlSecretsStore"], loaded


def test_retry_of_the_old_execution_runs_only_what_did_not_complete(old_store: OldStore) -> None:
    execution_id = old_store.facts["execution_id"]
    before = old_store.json("executions", "show", execution_id)
    assert before["status"] == "failed", before["status"]
    (old_store.root / "project" / "fixed").touch()  # combine() succeeds from now on

    res = old_store.kitaru("executions", "retry", execution_id)
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}"

    # fetch completed before the move: its stored output is reused, its body not run.
    assert old_store.marks() == Counter({"fetch": 1, "combine": 2, "finish": 1})
    done = old_store.json("executions", "show", execution_id)
    assert done["id"] == execution_id
    assert done["status"] == "completed", done
    assert done["result"] == {"total": 82}  # fetch: 40, combine: 41, finish: 82
    ids = [r["id"] for r in old_store.json("executions", "list")]
    assert ids.count(execution_id) == 1 and len(ids) == 1, "a retry is the same execution"
    # Each step run records its checkpoint's code (the dashboard's Code tab), not
    # kitaru's step: the step was recognised by the source its record names.
    con = sqlite3.connect(old_store.database)
    try:
        code = con.execute(
            "SELECT name, source_code FROM step_run WHERE pipeline_run_id = ?",
            (execution_id.replace("-", ""),),
        ).fetchall()
    finally:
        con.close()
    assert {name for name, _ in code} == {"combine", "fetch", "finish"}, code
    for name, text in code:
        assert text.startswith(f"@kitaru.checkpoint\ndef {name}("), (name, text)


def test_replay_of_the_old_execution_reuses_every_recorded_output(old_store: OldStore) -> None:
    execution_id = old_store.facts["execution_id"]
    if old_store.json("executions", "show", execution_id)["status"] != "completed":
        pytest.skip("needs the retry above to have completed the old execution")
    before = old_store.marks()
    replay = old_store.json("executions", "replay", execution_id)
    new_id = replay["execution_id"]
    assert new_id != execution_id and replay["status"] == "completed", replay
    assert len(replay["reused"]) == 3, replay
    done = old_store.json("executions", "show", new_id)
    assert done["status"] == "completed", done
    assert done["result"] == {"total": 82}
    assert old_store.marks() == before, "every checkpoint completed before: none runs again"
    assert all(c["reused_from"] for c in done["checkpoints"]), done["checkpoints"]
