"""Run one checkpoint body in a fresh Python process, as a remote orchestrator would.

The parent hands over only a job file (module path, function name, arguments)
and an environment built by :func:`handover_environment`: kitaru's config path,
the server URL, the execution identity and the model registry snapshot (names
only). The worker imports the user's module afresh (so the import-time guard
applies to it), reads secrets from the store at run time, runs the body inside
the runtime context and writes back the output, the secret-read audit and the
recorded events. ``python -m kitaru._worker JOB OUT``.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

ENV_EXECUTION_ID = "KITARU_EXECUTION_ID"
ENV_FLOW_NAME = "KITARU_FLOW_NAME"
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def handover_environment(
    *, flow_name: str, execution_id: str, registry: dict[str, Any] | None, pythonpath: list[str]
) -> dict[str, str]:
    """The whole environment a fresh worker gets: nothing secret, names only."""
    from kitaru._config import ENV_CONFIG_PATH, ENV_MODEL_REGISTRY, ENV_SERVER_URL, config_dir

    env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
    env[ENV_CONFIG_PATH] = str(config_dir())
    if os.environ.get(ENV_SERVER_URL):
        env[ENV_SERVER_URL] = os.environ[ENV_SERVER_URL]
    if registry is not None:
        env[ENV_MODEL_REGISTRY] = json.dumps(registry, sort_keys=True)
    env[ENV_EXECUTION_ID] = execution_id
    env[ENV_FLOW_NAME] = flow_name
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env["ZENML_ANALYTICS_OPT_IN"] = "false"
    return env


def _resolve(module_name: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def main(job_path: str, out_path: str) -> int:
    """Worker entry point; returns the process exit code."""
    from kitaru._zenml import secret_store
    from kitaru.checkpoint import run_body_in_scope
    from kitaru.errors import KitaruError
    from kitaru.models import effective_registry
    from kitaru.runtime import ExecutionScope, execution_scope

    job = pickle.loads(Path(job_path).read_bytes())
    scope = ExecutionScope(
        flow_name=os.environ[ENV_FLOW_NAME],
        execution_id=os.environ[ENV_EXECUTION_ID],
        fetch_secret=secret_store.get_secret,
    )
    out: dict[str, Any] = {"ok": False}
    try:
        scope.model_registry = effective_registry()
        fn = _resolve(job["module"], job["qualname"])
        body = getattr(fn, "__wrapped__", fn)
        with execution_scope(scope):
            value = run_body_in_scope(
                scope, job["name"], job["invocation_id"], body, job["args"], job["kwargs"]
            )
        out = {"ok": True, "value": value}
    except KitaruError as exc:
        out = {"ok": False, "error_type": type(exc).__name__, "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, redacted
        text = scope.redactor.redact(f"{type(exc).__name__}: {exc}")
        out = {"ok": False, "error_type": type(exc).__name__, "message": text}
    out["reads"] = [r.to_json() for r in scope.reads]
    out["events"] = list(scope.events)
    out["backend_reads"] = scope.backend_reads
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(out, fh)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
