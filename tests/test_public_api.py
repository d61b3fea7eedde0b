"""Pin kitaru's public face: the exact `__all__`, and a light `import kitaru`.

A change to the public API must show up as a deliberate diff of EXPECTED.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

import kitaru

EXPECTED = sorted(
    [
        "AmbiguousExecutionIdError",
        "BackendError",
        "EncryptionKeyError",
        "Execution",
        "ExecutionInfo",
        "ExecutionBusyError",
        "ExecutionCancelledError",
        "ExecutionStateError",
        "ExecutionNotFoundError",
        "ExecutionSummary",
        "FlowHandle",
        "ImportTimeSecretError",
        "InvalidSecretError",
        "KitaruContextError",
        "KitaruError",
        "KitaruValidationError",
        "LLMCallError",
        "LLMSetupError",
        "MissingSecretKeyError",
        "ModelAlias",
        "ModelNotFoundError",
        "FlowFailedError",
        "FlowWaitingError",
        "ReplayError",
        "Secret",
        "SecretError",
        "SecretExistsError",
        "SecretLeakError",
        "SecretNotFoundError",
        "SecretRef",
        "SecretSetResult",
        "SecretSummary",
        "SecretUnavailableError",
        "SecretVisibilityError",
        "ServerLoginError",
        "ServerUnavailableError",
        "WaitAbortedError",
        "__version__",
        "allm",
        "checkpoint",
        "create_secret",
        "current_execution",
        "current_execution_id",
        "delete_secret",
        "executions",
        "flow",
        "get_execution",
        "get_secret",
        "in_checkpoint",
        "in_flow",
        "list_executions",
        "list_models",
        "list_secrets",
        "llm",
        "log",
        "recover",
        "register_model",
        "remove_model",
        "secret_ref",
        "set_default_model",
        "set_secret",
        "wait",
    ]
)


def test_all_is_pinned() -> None:
    assert sorted(kitaru.__all__) == EXPECTED
    assert len(kitaru.__all__) == len(set(kitaru.__all__))


def test_every_public_name_is_importable() -> None:
    module = importlib.import_module("kitaru")
    for name in EXPECTED:
        assert hasattr(module, name), name
    namespace: dict[str, object] = {}
    exec(f"from kitaru import {', '.join(EXPECTED)}", namespace)
    assert all(name in namespace for name in EXPECTED)
    star: dict[str, object] = {}
    exec("from kitaru import *", star)
    assert sorted(k for k in star if not k.startswith("__builtins")) == EXPECTED


def test_errors_share_one_root() -> None:
    errors = [getattr(kitaru, n) for n in EXPECTED if n.endswith("Error")]
    assert errors
    for cls in errors:
        assert isinstance(cls, type) and issubclass(cls, kitaru.KitaruError), cls


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_kitaru_is_light() -> None:
    proc = _run(
        """
        import sys
        import kitaru
        # pydantic too: the typed run record is built where a record is first needed;
        # and the decorators' machinery (wrapt, asyncio, the execution scopes) is
        # loaded by the first use of a decorator.
        names = ("zenml", "litellm", "mcp", "pydantic", "wrapt", "asyncio", "kitaru.runtime.scope")
        heavy = sorted(m for m in names if m in sys.modules)
        assert not heavy, heavy
        # The import guard is loaded with kitaru: threads started by an importing
        # module are noted before that module reads any secret.
        assert "kitaru.runtime.import_guard" in sys.modules
        print("ok", len(kitaru.__all__))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"ok {len(kitaru.__all__)}\n"


def test_cli_help_does_not_import_zenml() -> None:
    proc = _run(
        """
        import sys
        from click.testing import CliRunner
        from kitaru.cli import cli
        for args in (["--help"], ["secrets", "--help"], ["secrets", "set", "--help"]):
            result = CliRunner().invoke(cli, args, catch_exceptions=False)
            assert result.exit_code == 0, (args, result.output)
            assert "Usage:" in result.output, result.output
        top = CliRunner().invoke(cli, ["--help"]).output
        assert "secrets" in top, top
        names = ("zenml", "litellm", "mcp", "pydantic", "wrapt", "asyncio", "kitaru.checkpoint")
        heavy = sorted(m for m in names if m in sys.modules)
        assert not heavy, heavy
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"


def test_functions_named_like_their_module_are_not_shadowed() -> None:
    """`kitaru.flow` stays the decorator even after `kitaru.flow` the module is imported."""
    code = (
        "import importlib, inspect\n"
        "for m in ('kitaru.checkpoint', 'kitaru.flow', 'kitaru.llm', 'kitaru.executions',"
        " 'kitaru.models', 'kitaru.secrets', 'kitaru.runtime'):\n"
        "    importlib.import_module(m)\n"
        "import kitaru\n"
        "assert inspect.isfunction(kitaru.checkpoint), kitaru.checkpoint\n"
        "assert inspect.isfunction(kitaru.flow), kitaru.flow\n"
        "assert inspect.isfunction(kitaru.llm), kitaru.llm\n"
        "assert callable(kitaru.get_secret) and callable(kitaru.list_executions)\n"
        "print('ok')\n"
    )
    out = _run(code)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize(
    "first",
    [
        "import kitaru.flow",
        "from kitaru.flow import FlowHandle",
        "from kitaru import flow as f",
        "import kitaru; kitaru.llm",
        "from kitaru.checkpoint import checkpoint",
        "import kitaru.runtime; kitaru.runtime.in_flow",
    ],
)
def test_the_decorators_load_on_first_use_in_any_order(first: str) -> None:
    """However the first of them is reached, all three names stay the functions."""
    code = (
        f"{first}\n"
        "import inspect, kitaru\n"
        "import kitaru.flow, kitaru.checkpoint, kitaru.llm\n"
        "for name in ('flow', 'checkpoint', 'llm'):\n"
        "    assert inspect.isfunction(getattr(kitaru, name)), (name, getattr(kitaru, name))\n"
        "from kitaru import flow, checkpoint, llm\n"
        "assert (flow, checkpoint, llm) == (kitaru.flow, kitaru.checkpoint, kitaru.llm)\n"
        "assert flow.__module__ == 'kitaru.flow' and checkpoint.__module__ == 'kitaru.checkpoint'\n"
        "print('ok')\n"
    )
    out = _run(code)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
