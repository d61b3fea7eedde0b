"""``kitaru model show`` names the credential without importing litellm (or ZenML).

The providers' variables come from kitaru's table (``kitaru._run.llm_providers``),
checked here against the installed litellm's own ``validate_environment`` for
every provider in it, with and without its variables set; the command's output
is the same as when litellm answers.
"""

from __future__ import annotations

import itertools
import json

import pytest
from _cli_probe import probe
from click.testing import CliRunner

import kitaru
from kitaru._run import llm_providers
from kitaru._run.llm_setup import import_litellm
from kitaru.cli import cli

ALL_VARS = sorted(
    {
        var
        for alternatives, reported in llm_providers.PROVIDER_KEYS.values()
        for var in (*reported, *(v for option in alternatives for v in option))
    }
)


def _env_cases(provider: str) -> list[tuple[str, ...]]:
    alternatives, reported = llm_providers.PROVIDER_KEYS[provider]
    named = sorted({v for option in alternatives for v in option} | set(reported))
    cases: list[tuple[str, ...]] = [(), *alternatives, tuple(reported)]
    cases += [(v,) for v in named]
    cases += list(itertools.combinations(named, 2))[:6]
    return cases


@pytest.mark.parametrize("provider", sorted(llm_providers.PROVIDER_KEYS))
def test_the_table_agrees_with_litellm(provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    litellm = import_litellm()
    model = f"{provider}/some-model"
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    for case in _env_cases(provider):
        with monkeypatch.context() as m:
            for var in case:
                m.setenv(var, "" if var.endswith("TOKEN") else "x")
            for api_base in (None, "http://127.0.0.1:9/v1"):
                want = litellm.validate_environment(model=model, api_base=api_base)
                got = llm_providers.missing_keys(model, api_base)
                assert got == want["missing_keys"], (provider, case, api_base)


def test_an_unknown_provider_is_asked_of_litellm() -> None:
    assert llm_providers.missing_keys("no-such-provider/m") is None
    assert llm_providers.missing_keys("gpt-4o-mini") is None
    answer = llm_providers.KnownProviders().validate_environment("no-such-provider/m")
    assert answer == import_litellm().validate_environment(model="no-such-provider/m")


def test_model_show_imports_neither_litellm_nor_zenml_and_says_the_same(
    unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kitaru.set_secret(f"show-{unique}", {"ANTHROPIC_API_KEY": "sk-not-shown"})
    kitaru.set_secret(f"gone-{unique}", {"GROQ_API_KEY": "sk-gone"})
    aliases = {
        f"env_{unique}": ("openai/gpt-4o-mini", None),
        f"sec_{unique}": ("anthropic/claude-x", f"show-{unique}"),
        f"gone_{unique}": ("groq/llama", f"gone-{unique}"),
        f"none_{unique}": ("mistral/small", None),
    }
    for alias, (model, secret) in aliases.items():
        kitaru.register_model(alias, model, secret=secret)
    kitaru.delete_secret(f"gone-{unique}")
    commands = [["model", "show", a, *fmt] for a in aliases for fmt in ((), ("--json",))]
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    out = probe(commands, timeout=120)
    shown = out.outputs
    assert out.loaded == []
    assert "sk-not-shown" not in out.stdout and "sk-env" not in out.stdout
    assert json.loads(shown[1])["credential"]["source"] == "env:OPENAI_API_KEY"
    assert json.loads(shown[3])["credential"]["source"] == f"secret:show-{unique}"
    assert json.loads(shown[5])["credential"]["source"] == "none"
    assert json.loads(shown[7])["credential"]["variables"] == ["MISTRAL_API_KEY"]

    # The same text when litellm itself answers.
    monkeypatch.setattr(llm_providers, "missing_keys", lambda *_: None)
    for args, seen in zip(commands, shown, strict=True):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert result.output.rstrip("\n") == seen.rstrip("\n"), args
