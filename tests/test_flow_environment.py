"""A flow leaves os.environ as it found it; ZenML keeps working after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import kitaru

    @kitaru.checkpoint
    def ask() -> str:
        return kitaru.llm("hi", model="openai/x", api_base=sys.argv[1], api_key="sk-env-test")

    @kitaru.flow
    def envflow() -> str:
        return ask()

    os.environ["ZENML_LOGGING_VERBOSITY"] = "INFO"  # the caller's own setting
    before = dict(os.environ)
    first = envflow.run()
    first.wait()
    after_first = dict(os.environ)
    second = envflow.run()  # a flow after the environment was put back still runs
    result = second.wait()
    after_second = dict(os.environ)
    shown = kitaru.get_execution(first.execution_id, outputs=True)  # ZenML still finds it
    print(json.dumps({
        "added": sorted(set(after_first) - set(before)),
        "changed": sorted(k for k in before if after_first.get(k) != before[k]),
        "same_after_second": after_second == before,
        "result": result,
        "output": shown.checkpoints[0].output,
    }))
    """
)


@pytest.mark.parametrize("own_zenml", [False, True], ids=["no-zenml-env", "caller-zenml-env"])
def test_a_flow_leaves_the_environment_as_it_found_it(
    tmp_path: Path, openai_server: Any, own_zenml: bool
) -> None:
    (tmp_path / "envflow.py").write_text(SCRIPT, encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "LITELLM_", "OPENAI_"))
    }
    env["KITARU_CONFIG_PATH"] = str(tmp_path / "kitaru")
    if own_zenml:  # the caller's own ZenML config, put back after each flow
        env["ZENML_CONFIG_PATH"] = str(tmp_path / "callers-zenml")
        env["ZENML_LOCAL_STORES_PATH"] = str(tmp_path / "callers-zenml" / "local_stores")
    proc = subprocess.run(
        [sys.executable, "envflow.py", openai_server.base_url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["added"] == [] and out["changed"] == []
    assert out["same_after_second"] is True
    assert out["result"] == "echo: hi"
    assert out["output"] == repr("echo: hi")
    # kitaru's outputs never land in the caller's own ZenML directory.
    assert not (tmp_path / "callers-zenml").exists()
