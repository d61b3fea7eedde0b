"""Model aliases: short names for a provider/model, an optional linked secret and API base.

The registry lives in ``models.json`` in kitaru's config directory. The
``KITARU_MODEL_REGISTRY`` environment variable (JSON) adds or overrides aliases
for one process, e.g. ``{"fast": {"model": "openai/gpt-4o-mini", "secret":
"openai-creds"}}`` or ``{"aliases": {...}, "default": "fast"}``. A flow run
carries the registry it started with, so every checkpoint of that execution
resolves the same aliases. Only secret *names* are stored, never values.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from kitaru._config import ENV_MODEL_REGISTRY, file_lock, paths, write_private_file
from kitaru.errors import KitaruValidationError, ModelNotFoundError

__all__ = [
    "ModelAlias",
    "list_models",
    "register_model",
    "remove_model",
    "set_default_model",
]

ALIAS_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}\Z")


class ModelAlias(BaseModel):
    """An alias for a provider/model string, with an optional linked secret name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str
    model: str
    secret: str | None = None
    api_base: str | None = None
    is_default: bool = False


def _validate_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias):
        raise KitaruValidationError(
            f"Invalid model alias {alias!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'.",
            field="alias",
        )
    return alias


def _validate_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip() or model != model.strip():
        raise KitaruValidationError(
            f"Invalid model {model!r}: give a litellm model string PROVIDER/MODEL, "
            "e.g. openai/gpt-4o-mini.",
            field="model",
        )
    if "/" not in model or model.startswith("/") or model.endswith("/") or " " in model:
        raise KitaruValidationError(
            f"Invalid model {model!r}: give it as PROVIDER/MODEL (e.g. openai/gpt-4o-mini, "
            "anthropic/claude-3-5-sonnet-latest), as litellm names them.",
            field="model",
        )
    return model


def _validate_api_base(api_base: Any) -> str | None:
    if api_base is None:
        return None
    if not isinstance(api_base, str) or not re.match(r"https?://[^\s]+\Z", api_base):
        raise KitaruValidationError(
            f"Invalid API base {api_base!r}: give an http(s) URL.", field="api_base"
        )
    return api_base.rstrip("/")


# ---------------------------------------------------------------- storage


def _empty() -> dict[str, Any]:
    return {"default": None, "aliases": {}}


def _read_file() -> dict[str, Any]:
    f = paths().models_file
    if not f.exists():
        return _empty()
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise KitaruValidationError(
            f"The model registry {f} is not valid JSON; fix or remove it.", field="registry"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("aliases", {}), dict):
        raise KitaruValidationError(f"The model registry {f} has an unexpected shape.")
    for alias, entry in data.get("aliases", {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise KitaruValidationError(
                f"The model registry {f} has no model for alias {alias!r}; fix the file or "
                f"re-register it with `kitaru model register {alias} --model PROVIDER/MODEL`.",
                field="registry",
            )
    data.setdefault("aliases", {})
    data.setdefault("default", None)
    return data


def _parse_env_registry(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise KitaruValidationError(
            f"{ENV_MODEL_REGISTRY} is not valid JSON.", field=ENV_MODEL_REGISTRY
        ) from None
    if not isinstance(data, dict):
        raise KitaruValidationError(f"{ENV_MODEL_REGISTRY} must be a JSON object.")
    if "aliases" in data and isinstance(data["aliases"], dict):
        return {"aliases": data["aliases"], "default": data.get("default")}
    return {"aliases": data, "default": None}


def effective_registry() -> dict[str, Any]:
    """The registry for this process: the file, overlaid with ``KITARU_MODEL_REGISTRY``."""
    data = _read_file()
    raw = os.environ.get(ENV_MODEL_REGISTRY, "").strip()
    if raw:
        overlay = _parse_env_registry(raw)
        for alias, entry in overlay["aliases"].items():
            if not isinstance(entry, dict) or "model" not in entry:
                raise KitaruValidationError(
                    f'{ENV_MODEL_REGISTRY}: alias {alias!r} needs at least a "model".',
                    field=ENV_MODEL_REGISTRY,
                )
            try:
                _validate_alias(alias)
                model = _validate_model(entry["model"])
                api_base = _validate_api_base(entry.get("api_base"))
                secret = entry.get("secret")
                if secret is not None:
                    from kitaru._store import validation as check

                    secret = check.validate_ref(secret)
            except KitaruValidationError as exc:
                raise KitaruValidationError(
                    f"{ENV_MODEL_REGISTRY}: {exc.message}", field=ENV_MODEL_REGISTRY
                ) from None
            data["aliases"][alias] = {"model": model, "secret": secret, "api_base": api_base}
        default = overlay.get("default")
        if default:
            if default not in data["aliases"]:
                raise KitaruValidationError(
                    f"{ENV_MODEL_REGISTRY}: default {default!r} is not an alias.",
                    field=ENV_MODEL_REGISTRY,
                )
            data["default"] = default
        elif not data.get("default") and overlay["aliases"]:
            # As with `kitaru model register`: the first alias becomes the default.
            data["default"] = next(iter(overlay["aliases"]))
    return data


def _to_alias(alias: str, entry: dict[str, Any], default: str | None) -> ModelAlias:
    return ModelAlias(
        alias=alias,
        model=str(entry["model"]),
        secret=entry.get("secret"),
        api_base=entry.get("api_base"),
        is_default=alias == default,
    )


def lookup(alias: str, registry: dict[str, Any] | None = None) -> ModelAlias | None:
    """The alias from ``registry`` (default: the effective one), or None."""
    reg = registry if registry is not None else effective_registry()
    entry = reg["aliases"].get(alias)
    return _to_alias(alias, entry, reg.get("default")) if entry else None


def default_alias(registry: dict[str, Any] | None = None) -> ModelAlias | None:
    """The default alias, or None if no alias is registered."""
    reg = registry if registry is not None else effective_registry()
    name = reg.get("default")
    return lookup(name, reg) if name else None


@contextlib.contextmanager
def _locked_file() -> Iterator[dict[str, Any]]:
    p = paths()
    with file_lock(p.root / "models.lock"):
        data = _read_file()
        yield data
        write_private_file(p.models_file, json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- public API


def register_model(
    alias: str,
    model: str,
    *,
    secret: str | None = None,
    api_base: str | None = None,
    default: bool = False,
) -> ModelAlias:
    """Register (or replace) ``alias`` -> ``model``; the first alias becomes the default.

    ``secret`` must name an existing secret exactly; only its name is stored.

    Raises:
        KitaruValidationError: bad alias, model or API base.
        SecretNotFoundError: ``secret`` does not exist.
    """
    alias = _validate_alias(alias)
    model = _validate_model(model)
    api_base = _validate_api_base(api_base)
    if secret is not None:
        from kitaru._store import secret_store
        from kitaru._store import validation as check

        secret = secret_store.get_secret(check.validate_ref(secret)).name
    with _locked_file() as data:
        data["aliases"][alias] = {"model": model, "secret": secret, "api_base": api_base}
        if default or not data.get("default") or data["default"] not in data["aliases"]:
            data["default"] = alias
        result = _to_alias(alias, data["aliases"][alias], data["default"])
    return result


def list_models() -> list[ModelAlias]:
    """All aliases (file and ``KITARU_MODEL_REGISTRY``), sorted by alias."""
    reg = effective_registry()
    return [_to_alias(a, e, reg.get("default")) for a, e in sorted(reg["aliases"].items())]


def _not_in_file(alias: str) -> KitaruValidationError | ModelNotFoundError:
    """The error for an alias missing from the file (it may come from the variable)."""
    raw = os.environ.get(ENV_MODEL_REGISTRY, "").strip()
    if raw:
        try:
            from_env = alias in _parse_env_registry(raw)["aliases"]
        except KitaruValidationError:
            from_env = False
        if from_env:
            return KitaruValidationError(
                f"Model alias {alias!r} comes from {ENV_MODEL_REGISTRY}, which applies to this "
                "process only; change that variable instead, or register the alias with "
                f"`kitaru model register {alias} --model PROVIDER/MODEL`.",
                field="alias",
            )
    return ModelNotFoundError(alias)


def remove_model(alias: str) -> ModelAlias:
    """Remove ``alias`` from the registry file; returns what it was.

    If it was the default, the first remaining alias (by name) becomes the default.
    """
    with _locked_file() as data:
        entry = data["aliases"].pop(alias, None)
        if entry is None:
            raise _not_in_file(alias)
        was_default = data.get("default") == alias
        if was_default:
            data["default"] = min(data["aliases"]) if data["aliases"] else None
    return _to_alias(alias, entry, alias if was_default else None)


def aliases_linking(secret: str) -> list[str]:
    """Aliases in the registry file whose linked secret is named ``secret``."""
    return sorted(a for a, e in _read_file()["aliases"].items() if e.get("secret") == secret)


def relink_secret(old: str, new: str) -> list[str]:
    """Point aliases linked to secret ``old`` at ``new`` (after a rename); returns them."""
    with _locked_file() as data:
        moved = sorted(a for a, e in data["aliases"].items() if e.get("secret") == old)
        for alias in moved:
            data["aliases"][alias]["secret"] = new
    return moved


def set_default_model(alias: str) -> ModelAlias:
    """Make ``alias`` the default model."""
    with _locked_file() as data:
        entry = data["aliases"].get(alias)
        if entry is None:
            raise _not_in_file(alias)
        data["default"] = alias
    return _to_alias(alias, entry, alias)
