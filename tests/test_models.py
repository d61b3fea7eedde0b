"""Model aliases: `kitaru model ...` and register/list/remove/set_default_model.

The registry file lives under KITARU_CONFIG_PATH, which the test session shares.
Tests that depend on an empty registry ("the first alias becomes the default")
run against a brand-new config directory: a subprocess for the CLI, or
KITARU_CONFIG_PATH switched by monkeypatch for registry-only Python calls (those
never touch the ZenML store). Tests that need the shared secret store remove the
aliases they create.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import pytest
from conftest import run_cli

import kitaru
from kitaru.errors import (
    KitaruError,
    KitaruValidationError,
    ModelNotFoundError,
    SecretNotFoundError,
)


def _cli(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = run_cli(*args, env={"KITARU_CONFIG_PATH": str(config), **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


@pytest.fixture
def empty_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh KITARU_CONFIG_PATH for registry-only calls in this process."""
    path = tmp_path / "registry-only"
    monkeypatch.setenv("KITARU_CONFIG_PATH", str(path))
    monkeypatch.delenv("KITARU_MODEL_REGISTRY", raising=False)
    return path


# ---------------------------------------------------------------- CLI


def test_cli_register_list_default_remove_in_a_fresh_config(fresh_config: Path) -> None:
    rc, out, err = _cli(fresh_config, "model", "list", "--json")
    assert rc == 0, err
    assert json.loads(out) == []

    rc, out, err = _cli(fresh_config, "model", "register", "first", "--model", "openai/one")
    assert rc == 0, err
    assert "first" in out and "openai/one" in out and "(default)" in out

    rc, out, err = _cli(
        fresh_config,
        "model",
        "register",
        "second",
        "--model",
        "anthropic/two",
        "--api-base",
        "http://127.0.0.1:9/v1/",
    )
    assert rc == 0, err
    assert "(default)" not in out

    rc, out, err = _cli(fresh_config, "model", "list", "--json")
    assert rc == 0, err
    assert json.loads(out) == [
        {
            "alias": "first",
            "model": "openai/one",
            "secret": None,
            "api_base": None,
            "is_default": True,
        },
        {
            "alias": "second",
            "model": "anthropic/two",
            "secret": None,
            "api_base": "http://127.0.0.1:9/v1",
            "is_default": False,
        },
    ]
    # The file on disk holds the same, and is private to the user.
    stored = json.loads((fresh_config / "models.json").read_text())
    assert stored["default"] == "first"
    assert set(stored["aliases"]) == {"first", "second"}
    assert (fresh_config / "models.json").stat().st_mode & 0o077 == 0

    rc, out, err = _cli(fresh_config, "model", "list")
    assert rc == 0, err
    assert "first" in out and "second" in out and "anthropic/two" in out

    rc, out, err = _cli(fresh_config, "model", "default", "second")
    assert rc == 0, err
    assert "second" in out
    rc, out, _ = _cli(fresh_config, "model", "list", "--json")
    assert {m["alias"]: m["is_default"] for m in json.loads(out)} == {
        "first": False,
        "second": True,
    }

    rc, out, err = _cli(fresh_config, "model", "remove", "second")
    assert rc == 0, err
    assert "Removed model alias 'second', the default; 'first' (openai/one) is" in out

    rc, out, err = _cli(fresh_config, "model", "remove", "first")
    assert rc == 0, err
    assert "no alias is left, so there is no default model now" in out
    rc, out, _ = _cli(fresh_config, "model", "list", "--json")
    assert json.loads(out) == []
    assert json.loads((fresh_config / "models.json").read_text()) == {
        "aliases": {},
        "default": None,
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("register", "bad alias", "--model", "openai/x"), "Invalid model alias"),
        (("register", "9lives", "--model", "openai/x"), "Invalid model alias"),
        (("register", "ok", "--model", "gpt-4o"), "PROVIDER/MODEL"),
        (("register", "ok", "--model", "openai/"), "PROVIDER/MODEL"),
        (("register", "ok", "--model", "openai/x", "--api-base", "ftp://h"), "API base"),
        (("remove", "nope"), "'nope' is not registered"),
        (("default", "nope"), "'nope' is not registered"),
    ],
)
def test_cli_bad_input_is_one_error_line(
    fresh_config: Path, args: tuple[str, ...], expected: str
) -> None:
    rc, out, err = _cli(fresh_config, "model", *args)
    assert rc != 0
    assert expected in _one_error_line(err)
    assert "Traceback" not in err + out
    assert (
        not (fresh_config / "models.json").exists()
        or json.loads((fresh_config / "models.json").read_text())["aliases"] == {}
    )


def test_cli_register_with_secret_stores_only_the_name(
    config_path: Path, unique: str, canary: str
) -> None:
    secret = f"model-creds-{unique}"
    kitaru.create_secret(secret, {"OPENAI_API_KEY": canary})
    alias = f"cli-linked-{unique}"
    try:
        proc = run_cli(
            "model", "register", alias, "--model", "openai/mini", "--secret", secret, "--json"
        )
        assert proc.returncode == 0, proc.stderr
        shown = json.loads(proc.stdout)
        assert shown["alias"] == alias and shown["secret"] == secret
        text = (config_path / "models.json").read_text()
        assert json.loads(text)["aliases"][alias]["secret"] == secret
        assert canary not in text
        assert canary not in proc.stdout + proc.stderr
    finally:
        with contextlib.suppress(ModelNotFoundError):
            kitaru.remove_model(alias)
        kitaru.delete_secret(secret)


def test_cli_list_shows_the_environment_registry(fresh_config: Path) -> None:
    rc, _, err = _cli(fresh_config, "model", "register", "filed", "--model", "openai/from-file")
    assert rc == 0, err
    env = {
        "KITARU_MODEL_REGISTRY": json.dumps(
            {
                "aliases": {
                    "filed": {"model": "openai/overridden"},
                    "extra": {"model": "anthropic/claude-x", "secret": "some-creds"},
                },
                "default": "extra",
            }
        )
    }
    rc, out, err = _cli(fresh_config, "model", "list", "--json", env=env)
    assert rc == 0, err
    assert {m["alias"]: (m["model"], m["secret"], m["is_default"]) for m in json.loads(out)} == {
        "extra": ("anthropic/claude-x", "some-creds", True),
        "filed": ("openai/overridden", None, False),
    }
    # The variable changes this process only, never the file.
    stored = json.loads((fresh_config / "models.json").read_text())
    assert stored == {
        "aliases": {"filed": {"api_base": None, "model": "openai/from-file", "secret": None}},
        "default": "filed",
    }

    rc, out, err = _cli(fresh_config, "model", "list", env={"KITARU_MODEL_REGISTRY": "{nope"})
    assert rc != 0
    assert "KITARU_MODEL_REGISTRY" in _one_error_line(err)


# ---------------------------------------------------------------- Python API


def test_first_alias_becomes_default_and_default_moves(empty_registry: Path) -> None:
    assert kitaru.list_models() == []
    first = kitaru.register_model("first", "openai/one")
    assert isinstance(first, kitaru.ModelAlias)
    assert first.is_default and first.model == "openai/one" and first.secret is None
    second = kitaru.register_model("second", "openai/two", api_base="https://example.test/v1/")
    assert not second.is_default
    assert second.api_base == "https://example.test/v1"
    assert [(m.alias, m.is_default) for m in kitaru.list_models()] == [
        ("first", True),
        ("second", False),
    ]

    third = kitaru.register_model("third", "openai/three", default=True)
    assert third.is_default
    assert [m.alias for m in kitaru.list_models() if m.is_default] == ["third"]

    again = kitaru.set_default_model("second")
    assert again.alias == "second" and again.is_default

    # Re-registering replaces the target but keeps the default where it is.
    replaced = kitaru.register_model("first", "anthropic/other")
    assert replaced.model == "anthropic/other" and not replaced.is_default
    assert {m.alias: m.model for m in kitaru.list_models()}["first"] == "anthropic/other"

    removed = kitaru.remove_model("second")
    assert removed.alias == "second" and removed.is_default
    assert [m.alias for m in kitaru.list_models() if m.is_default] == ["first"]
    kitaru.remove_model("first")
    kitaru.remove_model("third")
    assert kitaru.list_models() == []
    assert json.loads((empty_registry / "models.json").read_text())["default"] is None


def test_unknown_alias_errors(empty_registry: Path) -> None:
    kitaru.register_model("known", "openai/x")
    with pytest.raises(ModelNotFoundError) as info:
        kitaru.remove_model("unknown")
    assert info.value.alias == "unknown"
    assert isinstance(info.value, KitaruError) and isinstance(info.value, KeyError)
    assert "kitaru model register unknown" in str(info.value)
    with pytest.raises(ModelNotFoundError):
        kitaru.set_default_model("unknown")
    assert [(m.alias, m.is_default) for m in kitaru.list_models()] == [("known", True)]


@pytest.mark.parametrize("alias", ["", "a b", "1abc", "x" * 65, "a/b", None, 3, "é"])
def test_bad_alias_is_refused(empty_registry: Path, alias: object) -> None:
    with pytest.raises(KitaruValidationError) as info:
        kitaru.register_model(alias, "openai/x")  # type: ignore[arg-type]
    assert info.value.field == "alias"
    assert not (empty_registry / "models.json").exists()


@pytest.mark.parametrize(
    "model", ["", "gpt-4o", "/x", "openai/", " openai/x", "openai/x ", "openai/a b", None, 4]
)
def test_bad_model_is_refused(empty_registry: Path, model: object) -> None:
    with pytest.raises(KitaruValidationError) as info:
        kitaru.register_model("ok", model)  # type: ignore[arg-type]
    assert info.value.field == "model"
    assert "PROVIDER/MODEL" in str(info.value)
    assert kitaru.list_models() == []


@pytest.mark.parametrize("api_base", ["", "ftp://host", "localhost:8000", "http://a b", 5])
def test_bad_api_base_is_refused(empty_registry: Path, api_base: object) -> None:
    with pytest.raises(KitaruValidationError) as info:
        kitaru.register_model("ok", "openai/x", api_base=api_base)  # type: ignore[arg-type]
    assert info.value.field == "api_base"
    assert kitaru.list_models() == []


def test_register_with_secret_checks_it_exists_exactly(
    config_path: Path, unique: str, canary: str
) -> None:
    secret = f"py-model-creds-{unique}"
    summary = kitaru.create_secret(secret, {"OPENAI_API_KEY": canary})
    alias, by_id = f"py-linked-{unique}", f"py-linked-id-{unique}"
    try:
        linked = kitaru.register_model(alias, "openai/gpt-4o-mini", secret=secret)
        assert linked.secret == secret
        # A full ID is accepted, and the name is what gets stored.
        assert kitaru.register_model(by_id, "openai/x", secret=summary.id).secret == secret
        text = (config_path / "models.json").read_text()
        assert canary not in text
        assert json.loads(text)["aliases"][by_id]["secret"] == secret

        for ref in (secret[:-3], f"missing-{unique}", summary.id[:8]):
            with pytest.raises(SecretNotFoundError):
                kitaru.register_model(f"py-bad-{unique}", "openai/x", secret=ref)
        assert f"py-bad-{unique}" not in {m.alias for m in kitaru.list_models()}
    finally:
        for name in (alias, by_id):
            with contextlib.suppress(ModelNotFoundError):
                kitaru.remove_model(name)
        kitaru.delete_secret(secret)


def test_environment_registry_adds_and_overrides(
    empty_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kitaru.register_model("filed", "openai/from-file")
    monkeypatch.setenv(
        "KITARU_MODEL_REGISTRY",
        json.dumps(
            {
                "filed": {"model": "openai/overridden", "api_base": "http://127.0.0.1:1/v1"},
                "fresh": {"model": "anthropic/claude", "secret": "creds"},
            }
        ),
    )
    models = {m.alias: m for m in kitaru.list_models()}
    assert models["filed"].model == "openai/overridden"
    assert models["filed"].api_base == "http://127.0.0.1:1/v1"
    assert models["filed"].is_default
    assert (models["fresh"].model, models["fresh"].secret) == ("anthropic/claude", "creds")
    # Nothing was written.
    assert json.loads((empty_registry / "models.json").read_text())["aliases"] == {
        "filed": {"api_base": None, "model": "openai/from-file", "secret": None}
    }
    monkeypatch.setenv(
        "KITARU_MODEL_REGISTRY",
        json.dumps({"aliases": {"fresh": {"model": "openai/y"}}, "default": "fresh"}),
    )
    assert [m.alias for m in kitaru.list_models() if m.is_default] == ["fresh"]


def test_environment_registry_alone_has_a_default(
    empty_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "KITARU_MODEL_REGISTRY",
        json.dumps({"one": {"model": "openai/one"}, "two": {"model": "openai/two"}}),
    )
    assert [(m.alias, m.is_default) for m in kitaru.list_models()] == [
        ("one", True),
        ("two", False),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"a": {"secret": "x"}}),
        json.dumps({"a": "openai/x"}),
        json.dumps({"a": {"model": "no-provider"}}),
        json.dumps({"bad alias": {"model": "openai/x"}}),
        json.dumps({"a": {"model": "openai/x", "api_base": "file:///etc"}}),
        json.dumps({"a": {"model": "openai/x", "secret": ""}}),
        json.dumps({"aliases": {"a": {"model": "openai/x"}}, "default": "b"}),
    ],
)
def test_bad_environment_registry_is_a_clear_error(
    empty_registry: Path, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("KITARU_MODEL_REGISTRY", raw)
    with pytest.raises(KitaruValidationError) as info:
        kitaru.list_models()
    assert "KITARU_MODEL_REGISTRY" in str(info.value)


def test_concurrent_registrations_are_all_kept(empty_registry: Path) -> None:
    errors: list[BaseException] = []

    def register(i: int) -> None:
        try:
            kitaru.register_model(f"alias{i}", f"openai/m{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    models = kitaru.list_models()
    assert sorted(m.alias for m in models) == sorted(f"alias{i}" for i in range(12))
    assert sum(m.is_default for m in models) == 1


def test_registry_file_that_is_not_json_is_a_clear_error(empty_registry: Path) -> None:
    empty_registry.mkdir(parents=True)
    (empty_registry / "models.json").write_text("{oops")
    with pytest.raises(KitaruValidationError) as info:
        kitaru.list_models()
    assert "models.json" in str(info.value)
    assert os.fspath(empty_registry) in str(info.value)


def test_registry_file_entry_without_a_model_is_a_clear_error(empty_registry: Path) -> None:
    empty_registry.mkdir(parents=True)
    (empty_registry / "models.json").write_text(
        json.dumps({"aliases": {"broken": {"secret": "x"}}, "default": "broken"})
    )
    with pytest.raises(KitaruValidationError) as info:
        kitaru.list_models()
    assert "'broken'" in str(info.value) and "models.json" in str(info.value)


def test_alias_from_the_variable_cannot_be_removed_or_made_default_in_the_file(
    empty_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kitaru.register_model("filed", "openai/x")
    monkeypatch.setenv("KITARU_MODEL_REGISTRY", json.dumps({"envy": {"model": "openai/y"}}))
    for action in (kitaru.remove_model, kitaru.set_default_model):
        with pytest.raises(KitaruValidationError) as info:
            action("envy")
        assert "KITARU_MODEL_REGISTRY" in str(info.value)
    assert json.loads((empty_registry / "models.json").read_text()) == {
        "aliases": {"filed": {"api_base": None, "model": "openai/x", "secret": None}},
        "default": "filed",
    }
