"""Run a checkpoint in a fresh Python process, as a remote orchestrator would.

``call_in_fresh_process(my_checkpoint, *args)`` is called inside a flow in place
of ``my_checkpoint(*args)``. The call is still a durable checkpoint of the flow
(a ZenML step in this process), but its body runs in a new interpreter that
imports the checkpoint's module by its import path and gets only what kitaru
hands over (see :func:`kitaru._worker.handover_environment`): no in-memory state
of the parent. Secret reads made there are merged into this execution's audit.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from kitaru.errors import KitaruValidationError, RemoteCheckpointError
from kitaru.runtime import SecretRead


def _module_root(module_name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(module_name)
    file = spec.origin if spec is not None else None
    if not file:
        raise KitaruValidationError(
            f"Cannot find the file of module {module_name!r}.", field="checkpoint"
        )
    root = Path(file).resolve().parent
    depth = module_name.count(".") + (1 if Path(file).name == "__init__.py" else 0)
    for _ in range(depth):
        root = root.parent
    return str(root)


def _target(checkpoint_fn: Any) -> tuple[str, str, str]:
    """(module, qualname, checkpoint name) of a @checkpoint or a "module:qualname" string.

    The string form lets a test run a checkpoint whose module the parent must not
    import (e.g. one that reads a secret at import time).
    """
    if isinstance(checkpoint_fn, str):
        module, sep, qualname = checkpoint_fn.partition(":")
        if not sep or not module or not qualname:
            raise KitaruValidationError(
                f"Give the checkpoint as 'module:function', got {checkpoint_fn!r}.",
                field="checkpoint",
            )
        return module, qualname, qualname.rsplit(".", 1)[-1]
    spec = getattr(checkpoint_fn, "_self_wrapper", None)
    if spec is None or not hasattr(spec, "enter"):
        raise KitaruValidationError("call_in_fresh_process needs a @checkpoint function.")
    fn = checkpoint_fn.__wrapped__
    if fn.__module__ == "__main__":
        raise KitaruValidationError(
            f"Checkpoint {spec.name!r} is defined in __main__; a fresh process can only import "
            "it from a module. Move it into an importable module.",
            field="checkpoint",
        )
    return fn.__module__, fn.__qualname__, str(spec.name)


def call_in_fresh_process(
    checkpoint_fn: Any, *args: Any, timeout: float = 300, **kwargs: Any
) -> Any:
    """Call ``checkpoint_fn(*args, **kwargs)`` with its body in a fresh process.

    ``checkpoint_fn`` is a ``@checkpoint`` function or a ``"module:function"`` string.
    Must be called inside a flow.
    """
    from kitaru._worker import handover_environment
    from kitaru._zenml import pipelines
    from kitaru.runtime import require_execution

    module, qualname, name = _target(checkpoint_fn)
    scope = require_execution()
    invocation_id = scope.next_invocation_id(name, args, kwargs)
    env = handover_environment(
        flow_name=scope.flow_name,
        execution_id=scope.execution_id,
        registry=scope.model_registry,
        pythonpath=[_module_root(module)],
    )

    def runner() -> Any:
        with tempfile.TemporaryDirectory(prefix="kitaru-worker-") as tmp:
            job, out = Path(tmp) / "job.pkl", Path(tmp) / "out.pkl"
            fd = os.open(job, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(
                    {
                        "module": module,
                        "qualname": qualname,
                        "name": name,
                        "invocation_id": invocation_id,
                        "args": args,
                        "kwargs": kwargs,
                    },
                    fh,
                )
            proc = subprocess.run(
                [sys.executable, "-m", "kitaru._worker", str(job), str(out)],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if not out.exists():
                raise RemoteCheckpointError(
                    checkpoint=invocation_id,
                    error_type="WorkerCrashed",
                    message=f"worker exited with code {proc.returncode} and no result",
                )
            result = pickle.loads(out.read_bytes())
        scope.reads.extend(
            SecretRead(
                r["secret"],
                tuple(r["keys"]),
                r["checkpoint"],
                r["at"],
                int(r.get("count", 1)),
                r.get("last_at"),
            )
            for r in result.get("reads", [])
        )
        scope.events.extend(result.get("events", []))
        if not result["ok"]:
            raise RemoteCheckpointError(
                checkpoint=invocation_id,
                error_type=result["error_type"],
                message=scope.redactor.redact(result["message"]),
            )
        return result["value"]

    return pipelines.call_checkpoint(invocation_id, runner)
