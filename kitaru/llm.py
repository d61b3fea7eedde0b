"""``kitaru.llm()``: one LLM call through litellm, with model aliases and linked secrets.

Model: explicit ``model=`` (an alias if one matches, else a raw ``provider/model``
string), then ``KITARU_DEFAULT_MODEL`` (same rule), then the default alias.

Credentials, environment first: if the variables litellm says the provider needs
are set, litellm uses them. Otherwise the alias's linked secret is read (lazily
and once per execution inside a flow, audited like any read) and its values are
passed to litellm for this one call only (``api_key=``, ``api_base=``, ...).
``os.environ`` is never written.

Tracking: inside a checkpoint a call is recorded as an event of that checkpoint;
in a flow body outside any checkpoint the call is its own durable boundary (a
ZenML step whose output is the response); outside a flow it is not tracked.
Records hold prompt, response, token usage, latency, cost and credential source,
with secret values redacted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kitaru.errors import KitaruValidationError, LLMCallError, LLMSetupError
from kitaru.runtime import (
    ExecutionScope,
    Redactor,
    current_checkpoint_or_none,
    current_execution_or_none,
)

__all__ = ["allm", "llm"]

_ROLES = {"system", "user", "assistant", "tool", "developer", "function"}

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
class _Resolved:
    model: str
    alias: str | None
    secret: str | None
    api_base: str | None


@dataclass
class _Credentials:
    kwargs: dict[str, str]
    source: str  # "environment" | "secret" | "none"
    values: tuple[str, ...] = ()


def _import_litellm() -> Any:
    # Offline-safe: litellm otherwise fetches its price map from the network on import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import logging

    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    return litellm


# ---------------------------------------------------------------- model


def _resolve_model(model: str | None, scope: ExecutionScope | None) -> _Resolved:
    from kitaru import models

    registry = scope.model_registry if scope is not None and scope.model_registry else None
    if registry is None:
        registry = models.effective_registry()

    def from_name(name: str, origin: str) -> _Resolved:
        alias = models.lookup(name, registry)
        if alias is not None:
            return _Resolved(alias.model, alias.alias, alias.secret, alias.api_base)
        if "/" not in name:
            raise LLMSetupError(
                f"{origin} {name!r} is neither a registered alias nor a PROVIDER/MODEL string. "
                f"Register it with `kitaru model register {name} --model PROVIDER/MODEL`."
            )
        return _Resolved(name, None, None, None)

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
    return _Resolved(default.model, default.alias, default.secret, default.api_base)


# ---------------------------------------------------------------- credentials


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


def _credentials(litellm: Any, target: _Resolved, scope: ExecutionScope | None) -> _Credentials:
    check = litellm.validate_environment(model=target.model, api_base=target.api_base)
    missing: list[str] = list(check.get("missing_keys") or [])
    if target.api_base:
        missing = [k for k in missing if _kwarg_for(k) != "api_base"]
    if not missing:
        return _Credentials({}, "environment")
    if target.secret is None:
        names = ", ".join(missing)
        label = f"alias {target.alias!r}" if target.alias else f"model {target.model!r}"
        raise LLMSetupError(
            f"{label} needs {names}, which is not set. Either export {missing[0]}=..., or "
            f"store it in a secret and link it: `kitaru secrets set my-creds "
            f"--{missing[0]}=...` then `kitaru model register ALIAS --model {target.model} "
            "--secret my-creds`."
        )
    secret = _read_linked_secret(target.secret, scope)
    kwargs: dict[str, str] = {}
    values: list[str] = []
    absent: list[str] = []
    for var in missing:
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
            f"--{absent[0]}=...`, or export {absent[0]}."
        )
    return _Credentials(kwargs, "secret", tuple(values))


def _read_linked_secret(name: str, scope: ExecutionScope | None) -> Any:
    from kitaru.secrets import Secret

    if scope is not None:
        return Secret(name, scope.secret_loader(name), scope.record_secret_read)
    from kitaru._zenml import secret_store

    stored = secret_store.get_secret(name)
    return Secret(name, lambda: stored)


# ---------------------------------------------------------------- messages


def _messages(prompt_or_messages: Any, system: str | None) -> list[dict[str, Any]]:
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
            if item["role"] not in _ROLES:
                raise KitaruValidationError(
                    f"Message {i} has unknown role {item['role']!r}; use one of "
                    f"{', '.join(sorted(_ROLES))}.",
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


# ---------------------------------------------------------------- the call


def _text_of(response: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        content = None
    return content if isinstance(content, str) else ""


def _usage_of(response: Any) -> dict[str, int | None]:
    usage = getattr(response, "usage", None)

    def get(name: str) -> int | None:
        value = getattr(usage, name, None) if usage is not None else None
        return int(value) if isinstance(value, (int, float)) else None

    return {
        "prompt_tokens": get("prompt_tokens"),
        "completion_tokens": get("completion_tokens"),
        "total_tokens": get("total_tokens"),
    }


def _cost_of(litellm: Any, response: Any) -> float | None:
    try:
        cost = litellm.completion_cost(completion_response=response)
    except Exception:  # noqa: BLE001 - unknown model price: no cost
        return None
    return float(cost) if isinstance(cost, (int, float)) else None


def _call_kwargs(
    target: _Resolved,
    creds: _Credentials,
    messages: list[dict[str, Any]],
    temperature: float | None,
    max_tokens: int | None,
    provider_options: dict[str, Any],
) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(provider_options)
    kwargs.update(model=target.model, messages=messages)
    if target.api_base and "api_base" not in kwargs:
        kwargs["api_base"] = target.api_base
    kwargs.update(creds.kwargs)
    if temperature is not None:
        kwargs["temperature"] = temperature
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    return kwargs


def _provider_error(
    exc: Exception, target: _Resolved, redact: Callable[[str], str]
) -> LLMCallError:
    text = redact(f"{type(exc).__name__}: {exc}")
    return LLMCallError(
        f"LLM call to {target.model!r} failed: {text}", model=target.model, provider_error=text
    )


def _record(
    scope: ExecutionScope,
    *,
    name: str | None,
    target: _Resolved,
    creds: _Credentials,
    messages: list[dict[str, Any]],
    text: str,
    response: Any,
    latency: float,
    litellm: Any,
    redact: Callable[[str], str],
) -> dict[str, Any]:
    cp = current_checkpoint_or_none()
    record = {
        "name": name,
        "model": target.model,
        "alias": target.alias,
        "checkpoint": cp.invocation_id if cp else None,
        "prompt": [
            {"role": m.get("role"), "content": redact(str(m.get("content")))}
            for m in messages
        ],
        "response": redact(text),
        "usage": _usage_of(response),
        "latency_s": round(latency, 4),
        "cost_usd": _cost_of(litellm, response),
        "credential_source": creds.source,
        "at": time.time(),
    }
    scope.events.append(record)
    return record


def _prepare(
    prompt_or_messages: Any, model: str | None, system: str | None
) -> tuple[Any, ExecutionScope | None, _Resolved, list[dict[str, Any]], _Credentials, Redactor]:
    messages = _messages(prompt_or_messages, system)
    scope = current_execution_or_none()
    target = _resolve_model(model, scope)
    litellm = _import_litellm()
    creds = _credentials(litellm, target, scope)
    redactor = Redactor()
    for value in creds.values:
        redactor.remember(value, secret=target.secret or "credential")
    return litellm, scope, target, messages, creds, redactor


def _redactor_for(scope: ExecutionScope | None, own: Redactor) -> Callable[[str], str]:
    """Redact this call's credentials and every secret value read in the execution."""
    if scope is None:
        return own.redact
    return lambda text: scope.redactor.redact(own.redact(text))


def llm(
    prompt_or_messages: str | Sequence[Mapping[str, Any]],
    *,
    model: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    name: str | None = None,
    **provider_options: Any,
) -> str:
    """Call an LLM through litellm and return the response text.

    Args:
        prompt_or_messages: a prompt string, or a list of ``{"role", "content"}`` dicts.
        model: an alias or a ``provider/model`` string (default: see module docs).
        system: a system message to put first.
        temperature: sampling temperature, passed through.
        max_tokens: response token limit, passed through.
        name: a label for the recorded call (and its durable boundary in a flow body).
        **provider_options: any other litellm ``completion`` argument.

    Raises:
        LLMSetupError: no model, or no credentials for it (nothing is sent).
        LLMCallError: the provider call failed (text redacted).
    """
    litellm, scope, target, messages, creds, own = _prepare(prompt_or_messages, model, system)
    kwargs = _call_kwargs(target, creds, messages, temperature, max_tokens, provider_options)

    def call() -> str:
        redact = _redactor_for(scope, own)
        started = time.perf_counter()
        try:
            response = litellm.completion(**kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised as LLMCallError, redacted
            raise _provider_error(exc, target, redact) from None
        latency = time.perf_counter() - started
        text = _text_of(response)
        if scope is not None:
            _record(
                scope,
                name=name,
                target=target,
                creds=creds,
                messages=messages,
                text=text,
                response=response,
                latency=latency,
                litellm=litellm,
                redact=redact,
            )
        return text

    if scope is not None and current_checkpoint_or_none() is None:
        return _as_boundary(scope, name, call)
    return call()


def _as_boundary(scope: ExecutionScope, name: str | None, call: Any) -> str:
    """Run a flow-body LLM call as its own checkpoint (a ZenML step)."""
    from kitaru.checkpoint import run_as_checkpoint

    label = f"llm_{name}" if name else "llm"
    return str(run_as_checkpoint(scope, label, call))


async def allm(
    prompt_or_messages: str | Sequence[Mapping[str, Any]],
    *,
    model: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    name: str | None = None,
    **provider_options: Any,
) -> str:
    """Async form of :func:`llm` (same arguments, same resolution and tracking)."""
    scope = current_execution_or_none()
    if scope is not None and current_checkpoint_or_none() is None:
        # A flow-body call is a durable boundary (a ZenML step); run it like llm().
        import asyncio

        return await asyncio.to_thread(
            llm,
            prompt_or_messages,
            model=model,
            system=system,
            temperature=temperature,
            max_tokens=max_tokens,
            name=name,
            **provider_options,
        )
    litellm, scope, target, messages, creds, own = _prepare(prompt_or_messages, model, system)
    kwargs = _call_kwargs(target, creds, messages, temperature, max_tokens, provider_options)
    redact = _redactor_for(scope, own)
    started = time.perf_counter()
    try:
        response = await litellm.acompletion(**kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised as LLMCallError, redacted
        raise _provider_error(exc, target, redact) from None
    text = _text_of(response)
    if scope is not None:
        _record(
            scope,
            name=name,
            target=target,
            creds=creds,
            messages=messages,
            text=text,
            response=response,
            latency=time.perf_counter() - started,
            litellm=litellm,
            redact=redact,
        )
    return text
