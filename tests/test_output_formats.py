"""Machine formats: outputs as JSON values, ISO 8601 UTC times, piped tables whole.

Also `executions logs --checkpoint` with a name the execution does not have.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from kitaru.cli.output_values import iso_utc, json_value, machine_rows, machine_values

ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\Z")

FLOW = textwrap.dedent(
    """
    import kitaru

    class Opaque:
        pass

    @kitaru.checkpoint
    def words() -> str:
        return "hello world"

    @kitaru.checkpoint
    def table() -> dict:
        return {"a": [1, 2.5, None], "b": "x"}

    @kitaru.checkpoint
    def blob() -> bytes:
        return b"raw"

    @kitaru.flow
    def shapes() -> dict:
        words(); table(); blob()
        return {"done": True}

    if __name__ == "__main__":
        print(shapes.run().execution_id)
    """
)


@pytest.fixture(scope="module")
def execution(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("formats")
    (root / "shapes.py").write_text(FLOW, encoding="utf-8")
    config = root / "kitaru"
    proc = subprocess.run(
        [sys.executable, "shapes.py"],
        cwd=root,
        env={**os.environ, "KITARU_CONFIG_PATH": str(config)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return config, proc.stdout.strip().splitlines()[-1]


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"KITARU_CONFIG_PATH": str(config)})


def test_show_json_gives_outputs_as_json_values(execution: tuple[Path, str]) -> None:
    config, execution_id = execution
    shown = cli(config, "executions", "show", execution_id, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    outputs = {c["id"]: (c["output"], c["output_type"]) for c in data["checkpoints"]}
    assert outputs["words"] == ("hello world", "str")  # never "'hello world'"
    assert outputs["table"] == ({"a": [1, 2.5, None], "b": "x"}, "dict")
    assert outputs["blob"] == ("b'raw'", "bytes")  # no JSON form: the summary and the type
    assert (data["result"], data["result_type"]) == ({"done": True}, "dict")
    assert ISO_UTC.match(data["started"]) and ISO_UTC.match(data["ended"])
    assert all(ISO_UTC.match(c["started"]) for c in data["checkpoints"])


@pytest.mark.parametrize("fmt", ["json", "yaml", "tsv"])
def test_list_times_are_iso_utc_in_every_machine_format(
    execution: tuple[Path, str], fmt: str
) -> None:
    config, _ = execution
    out = cli(config, "executions", "list", "-o", fmt)
    assert out.returncode == 0, out.stderr
    if fmt == "json":
        started = json.loads(out.stdout)[0]["started"]
    elif fmt == "yaml":
        import yaml

        started = yaml.safe_load(out.stdout)[0]["started"]
    else:
        header, row = out.stdout.splitlines()[:2]
        started = row.split("\t")[header.split("\t").index("Started")]
    assert ISO_UTC.match(str(started)), started


def test_logs_of_an_unknown_checkpoint_names_the_checkpoints(execution: tuple[Path, str]) -> None:
    config, execution_id = execution
    for extra in ((), ("-o", "json")):
        out = cli(config, "executions", "logs", execution_id, "--checkpoint", "nosuch", *extra)
        assert out.returncode == 1, out.stdout
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert "'nosuch'" in lines[0] and "words, table, blob" in lines[0]
    known = cli(config, "executions", "logs", execution_id, "--checkpoint", "words")
    assert known.returncode == 0, known.stderr


def test_a_piped_table_never_breaks_a_word(tmp_path: Path) -> None:
    config = tmp_path / "kitaru"
    name = "a-rather-long-secret-name-that-would-not-fit-in-an-eighty-column-table"
    keys = [f"--SOME_FAIRLY_LONG_KEY_NAME_{i}=v" for i in range(4)]
    assert cli(config, "secrets", "set", name, *keys).returncode == 0
    out = cli(config, "secrets", "list", "-o", "table")
    assert out.returncode == 0, out.stderr
    assert name in out.stdout
    for i in range(4):
        assert f"SOME_FAIRLY_LONG_KEY_NAME_{i}" in out.stdout


def test_value_helpers() -> None:
    assert iso_utc("2026-12-06T14:14:45.564197") == "2026-12-06T14:14:45.564197Z"
    assert iso_utc("2026-12-06 14:14:45") == "2026-12-06T14:14:45Z"
    assert iso_utc(0) == "1970-01-01T00:00:00Z" and iso_utc("not a time") == "not a time"
    data = machine_values({"at": 0.0, "name": "2026-12-06 14:14:45", "items": [{"updated": None}]})
    assert data == {"at": "1970-01-01T00:00:00Z", "name": "2026-12-06 14:14:45", "items": [
        {"updated": None}]}  # fmt: skip
    assert machine_rows(["Name", "Started"], [["2026-12-06 14:14:45", "2026-12-06 14:14:45"]]) == [
        ["2026-12-06 14:14:45", "2026-12-06T14:14:45Z"]
    ]
    assert json_value("x" * 100_000, "'xxx…")[0] == "'xxx…"
    assert json_value(float("nan"), "nan") == ("nan", "float")
    assert json_value((1, "a"), "(1, 'a')") == ([1, "a"], "tuple")
