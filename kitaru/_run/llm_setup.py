"""Which model and which credentials one ``kitaru.llm()`` call uses.

Model: explicit ``model=`` (an alias if one matches, else a raw
``provider/model`` string), then ``KITARU_DEFAULT_MODEL`` (same rule), then the
default alias of the registry the execution carries.

Credentials are planned before anything is sent: the variables litellm says the
provider needs are taken from the environment, from explicit provider options,
or else from the alias's linked secret, read through the runtime context (once
per execution, audited). Values go to litellm as call arguments, never into
``os.environ``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kitaru.errors import KitaruValidationError, LLMSetupError
from kitaru.runtime import ExecutionScope, record_read_outside_flow, refuse_at_import_time

# Environment variable -> litellm keyword for the per-call credential kwargs.
_EXACT_KWARGS = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_REGION_NAME": "aws_region_name",
    "AWS_DEFAULT_REGION": "aws_region_name",
    "AWS_REGION": "aws_region_name",
}


@dataclass(frozen=True)
class Resolved:
    model: str
    alias: str | None
    secret: str | None
    api_base: str | None


@dataclass
class Credentials:
    kwargs: dict[str, str]
    source: str  # "environment" | "secret" | "none"
    values: tuple[str, ...] = ()


# ---------------------------------------------------------------- messages and options

_ROLES = {"system", "user", "assistant", "tool", "developer", "function"}


def build_messages(prompt_or_messages: Any, system: str | None) -> list[dict[str, Any]]:
    """The litellm message list for a prompt string or a list of role/content messages."""
    if isinstance(prompt_or_messages, str):
        if not prompt_or_messages:
            raise KitaruValidationError("The prompt is empty.", field="prompt")
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt_or_messages}]
    elif isinstance(prompt_or_messages, Sequence) and not isinstance(prompt_or_messages, bytes):
        messages = []
        for i, item in enumerate(prompt_or_messages):
            if not isinstance(item, Mapping) or "role" not in item or "content" not in item:
                raise KitaruValidationError(
                    f"Message {i} must be a mapping with 'role' and 'content'.", field="messages"
                )
            role, content = item["role"], item["content"]
            if not isinstance(role, str) or role not in _ROLES:
                raise KitaruValidationError(
                    f"Message {i} has unknown role {role!r}; use one of "
                    f"{', '.join(sorted(_ROLES))}.",
                    field="messages",
                )
            if not (isinstance(content, (str, list)) or (content is None and role != "user")):
                raise KitaruValidationError(
                    f"Message {i} ({role}) has content of type {type(content).__name__}; "
                    "give a string (or a list of content parts).",
                    field="messages",
                )
            messages.append(dict(item))
        if not messages:
            raise KitaruValidationError("The message list is empty.", field="messages")
    else:
        raise KitaruValidationError(
            "llm() takes a prompt string or a list of {'role', 'content'} messages, got "
            f"{type(prompt_or_messages).__name__}.",
            field="prompt",
        )
    if system is not None:
        if not isinstance(system, str):
            raise KitaruValidationError("system= must be a string.", field="system")
        messages.insert(0, {"role": "system", "content": system})
    return messages


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,95}\Z")


def check_options(temperature: Any, max_tokens: Any, name: Any) -> None:
    """Refuse a bad ``temperature``, ``max_tokens`` or ``name`` before anything is sent."""
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float))
    ):
        raise KitaruValidationError(
            f"temperature= must be a number, got {type(temperature).__name__}.",
            field="temperature",
        )
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise KitaruValidationError(
            f"max_tokens= must be a positive integer, got {max_tokens!r}.", field="max_tokens"
        )
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        raise KitaruValidationError(
            f"name= must be 1-96 letters, digits, '_', '.' or '-', starting with a letter or "
            f"'_' (it names the call's checkpoint, llm_<name>); got {name!r}.",
            field="name",
        )


def import_litellm() -> Any:
    """Import litellm quietly and offline-safe (it otherwise fetches its price map)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import logging

    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    return litellm


# ---------------------------------------------------------------- model


def resolve_model(model: str | None, scope: ExecutionScope | None) -> Resolved:
    from kitaru import models

    registry = scope.model_registry if scope is not None and scope.model_registry else None
    if registry is None:
        registry = models.effective_registry()

    def from_name(name: str, origin: str) -> Resolved:
        alias = models.lookup(name, registry)
        if alias is not None:
            return Resolved(alias.model, alias.alias, alias.secret, alias.api_base)
        if "/" not in name:
            raise LLMSetupError(
                f"{origin} {name!r} is neither a registered alias nor a PROVIDER/MODEL string. "
                f"Register it with `kitaru model register {name} --model PROVIDER/MODEL`.",
                model=name,
            )
        return Resolved(name, None, None, None)

    if model is not None:
        if not isinstance(model, str) or not model.strip():
            raise KitaruValidationError("model= must be a non-empty string.", field="model")
        return from_name(model, "Model")
    env_model = os.environ.get("KITARU_DEFAULT_MODEL", "").strip()
    if env_model:
        return from_name(env_model, "KITARU_DEFAULT_MODEL")
    default = models.default_alias(registry)
    if default is None:
        raise LLMSetupError(
            "No model given and no default model: pass model='provider/model', set "
            "KITARU_DEFAULT_MODEL, or register an alias with `kitaru model register ALIAS "
            "--model PROVIDER/MODEL [--secret NAME]` (the first alias becomes the default)."
        )
    return Resolved(default.model, default.alias, default.secret, default.api_base)


# ---------------------------------------------------------------- credentials


# Provider options whose values are credentials: redacted like secret values.
SECRET_KWARGS = frozenset(
    {"api_key", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "azure_ad_token"}
)


def environment_credentials() -> list[str]:
    """Values of the credential variables in the environment (``OPENAI_API_KEY``, ...).

    litellm reads a provider's key from the environment itself, so kitaru never
    holds it as a secret value; a provider error that quotes it back is redacted
    with these.
    """
    return [v for k, v in os.environ.items() if v and _kwarg_for(k) in SECRET_KWARGS]


def is_str(options: Mapping[str, Any], key: str) -> bool:
    return isinstance(options.get(key), str) and bool(options[key])


def _kwarg_for(env_var: str) -> str | None:
    if env_var in _EXACT_KWARGS:
        return _EXACT_KWARGS[env_var]
    if env_var.endswith(("_API_KEY", "_TOKEN", "_KEY")):
        return "api_key"
    if env_var.endswith(("_API_BASE", "_BASE_URL", "_ENDPOINT", "_API_URL")):
        return "api_base"
    if env_var.endswith("_API_VERSION"):
        return "api_version"
    return None


@dataclass(frozen=True)
class CredentialPlan:
    """Where this call's credentials come from; decided before anything is sent."""

    source: str  # "environment" | "secret" | "argument"
    from_secret: tuple[str, ...] = ()  # variables to take from the linked secret
    explicit: tuple[str, ...] = ()  # credential values passed as provider options


def plan_credentials(
    litellm: Any, target: Resolved, provider_options: Mapping[str, Any]
) -> CredentialPlan:
    """Check the environment (without reading any secret) and decide the source.

    Raises:
        LLMSetupError: credentials are missing and no secret is linked.
    """
    api_base = provider_options.get("api_base") or target.api_base
    check = litellm.validate_environment(model=target.model, api_base=api_base)
    missing: list[str] = list(check.get("missing_keys") or [])
    if api_base:
        missing = [k for k in missing if _kwarg_for(k) != "api_base"]
    # A credential passed explicitly (e.g. ``api_key=``) satisfies its variables.
    given = {kw for kw in {_kwarg_for(k) for k in missing} if kw and is_str(provider_options, kw)}
    satisfied = [k for k in missing if _kwarg_for(k) in given]
    missing = [k for k in missing if k not in satisfied]
    explicit = tuple(
        str(provider_options[kw]) for kw in sorted(SECRET_KWARGS) if is_str(provider_options, kw)
    )
    if not missing:
        return CredentialPlan("argument" if satisfied else "environment", explicit=explicit)
    if target.secret is None:
        names = ", ".join(missing)
        label = f"alias {target.alias!r}" if target.alias else f"model {target.model!r}"
        raise LLMSetupError(
            f"{label} needs {names}, which is not set. Either export {missing[0]}=..., or "
            f"store it in a secret and link it: `kitaru secrets set my-creds "
            f"--{missing[0]}=...` then `kitaru model register ALIAS --model {target.model} "
            "--secret my-creds`.",
            model=target.model,
            missing=tuple(missing),
        )
    return CredentialPlan("secret", from_secret=tuple(missing), explicit=explicit)


def credential_label(
    source: str, target: Resolved, linked_keys: Sequence[str] = ()
) -> tuple[str, str | None]:
    """Where a call's credential came from, by name only, and the linked secret it overrode.

    ``("secret:openai-creds", None)``, ``("env:OPENAI_API_KEY", "openai-creds")`` when the
    provider's variable in the environment took precedence over the alias's linked
    secret, ``("environment", None)`` when litellm needs no ``PROVIDER_API_KEY``, or
    ``("argument", None)`` for a credential passed as a provider option. The one rule
    for the run record and ``kitaru model list/show`` (which also names the linked
    secret's keys set in the environment, ``linked_keys``).
    """
    if source == "secret":
        return f"secret:{target.secret}", None
    if source != "environment":
        return source, None
    variables = environment_variables(target.model, linked_keys)
    label = f"env:{','.join(variables)}" if variables else "environment"
    return label, target.secret or None


def environment_variables(model: str, linked_keys: Sequence[str] = ()) -> list[str]:
    """The credential variables set in the environment for ``model``: names only.

    Among ``linked_keys`` (a linked secret's key names, which the environment
    overrides) and the provider's ``PROVIDER_API_KEY``, in that order.
    """
    provider = model.split("/", 1)[0].upper().replace("-", "_")
    candidates = [*linked_keys, f"{provider}_API_KEY"]
    return [v for v in dict.fromkeys(candidates) if os.environ.get(v)]


def read_credentials(
    plan: CredentialPlan, target: Resolved, scope: ExecutionScope | None
) -> Credentials:
    """Read the linked secret if the plan needs it (audited inside a flow)."""
    if not plan.from_secret:
        return Credentials({}, plan.source, plan.explicit)
    assert target.secret is not None
    secret = _read_linked_secret(target.secret, scope)
    kwargs: dict[str, str] = {}
    values: list[str] = list(plan.explicit)
    absent: list[str] = []
    for var in plan.from_secret:
        value = secret.get(var)
        kwarg = _kwarg_for(var)
        if value is None or kwarg is None:
            absent.append(var)
            continue
        kwargs[kwarg] = value
        values.append(value)
    if absent:
        raise LLMSetupError(
            f"Secret {target.secret!r} linked to {target.alias or target.model!r} has no "
            f"{', '.join(absent)}. Add it with `kitaru secrets set {target.secret} "
            f"--{absent[0]}=...`, or export {absent[0]}.",
            model=target.model,
            missing=tuple(absent),
            secret=target.secret,
        )
    return Credentials(kwargs, "secret", tuple(values))


def _read_linked_secret(name: str, scope: ExecutionScope | None) -> Any:
    from kitaru.secrets import Secret

    if scope is not None:
        return Secret(name, scope.secret_loader(name), scope.record_secret_read)
    # Outside a flow the same import-time rule as get_secret() applies.
    refuse_at_import_time(name, depth=1)
    from kitaru._store import secret_store

    stored = secret_store.get_secret(name)
    return Secret(name, lambda: stored, record_read_outside_flow)
