"""One rule names a call's credential for the run record and for ``kitaru model show``.

Both take the label from :func:`kitaru._run.llm_setup.credential_label`; names only,
never a value.
"""

from __future__ import annotations

import pytest

import kitaru
from kitaru._run.llm_setup import Resolved, credential_label
from kitaru.cli.model_credentials import credential_source
from kitaru.models import ModelAlias


def _both(alias: ModelAlias, source: str) -> tuple[dict[str, object], tuple[str, str | None]]:
    target = Resolved(alias.model, alias.alias, alias.secret, alias.api_base)
    return credential_source(alias), credential_label(source, target)


def test_an_environment_variable_over_a_linked_secret_is_named_alike(
    monkeypatch: pytest.MonkeyPatch, unique: str, canary: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    alias = ModelAlias(alias=f"a-{unique}", model="openai/gpt-4o-mini", secret=f"gone-{unique}")
    shown, (label, overridden) = _both(alias, "environment")
    assert shown["source"] == label == "env:OPENAI_API_KEY"
    assert shown["overridden_secret"] == overridden == f"gone-{unique}"
    assert shown["variables"] == ["OPENAI_API_KEY"]
    assert canary not in repr(shown) + label


def test_a_linked_secret_is_named_alike(
    monkeypatch: pytest.MonkeyPatch, unique: str, canary: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    name = f"creds-{unique}"
    kitaru.create_secret(name, {"OPENAI_API_KEY": canary})
    alias = ModelAlias(alias=f"s-{unique}", model="openai/gpt-4o-mini", secret=name)
    shown, (label, overridden) = _both(alias, "secret")
    assert shown["source"] == label == f"secret:{name}"
    assert shown["overridden_secret"] is overridden is None
    assert canary not in repr(shown)


def test_no_named_variable_is_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    target = Resolved("ollama/llama3", None, None, None)
    assert credential_label("environment", target) == ("environment", None)
    assert credential_label("argument", target) == ("argument", None)
