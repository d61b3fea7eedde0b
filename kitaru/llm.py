"""``kitaru.llm()``: one LLM call through litellm, with model aliases and linked secrets.

Model: explicit ``model=`` (an alias if one matches, else a raw ``provider/model``
string), then ``KITARU_DEFAULT_MODEL`` (same rule), then the default alias.

Credentials, environment first: if the variables litellm says the provider needs
are set, litellm uses them. Otherwise the alias's linked secret is read (lazily
and once per execution inside a flow, audited like any read) and its values are
passed to litellm for this one call only (``api_key=``, ``api_base=``, ...).
A credential given explicitly as a provider option (``api_key=...``) counts as
set. ``os.environ`` is never written. Which source applies is decided before
anything is sent; the secret itself is read when the call runs (for a flow-body
call, inside its own checkpoint, so the read is attributed to it).

Tracking: inside a checkpoint a call is recorded as an event of that checkpoint;
in a flow body outside any checkpoint the call is its own durable boundary (a
ZenML step whose output is the response); outside a flow it is not tracked.
Records hold prompt, response, token usage, latency, cost, credential source and,
for a failed call, the provider's error, with secret values redacted. Provider
errors are raised as :class:`~kitaru.errors.LLMCallError` without the provider's
exception chained (its request may carry the credential).
"""

from __future__ import annotations

import os
import re
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
    refuse_at_import_time,
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
                f"Register it with `kitaru model register {name} --model PROVIDER/MODEL`.",
                model=name,
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


# Provider options whose values are credentials: redacted like secret values.
_SECRET_KWARGS = frozenset(
    {"api_key", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "azure_ad_token"}
)


def _is_str(options: Mapping[str, Any], key: str) -> bool:
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
class _CredentialPlan:
    """Where this call's credentials come from; decided before anything is sent."""

    source: str  # "environment" | "secret" | "argument"
    from_secret: tuple[str, ...] = ()  # variables to take from the linked secret
    explicit: tuple[str, ...] = ()  # credential values passed as provider options


def _plan_credentials(
    litellm: Any, target: _Resolved, provider_options: Mapping[str, Any]
) -> _CredentialPlan:
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
    given = {kw for kw in {_kwarg_for(k) for k in missing} if kw and _is_str(provider_options, kw)}
    satisfied = [k for k in missing if _kwarg_for(k) in given]
    missing = [k for k in missing if k not in satisfied]
    explicit = tuple(
        str(provider_options[kw]) for kw in sorted(_SECRET_KWARGS) if _is_str(provider_options, kw)
    )
    if not missing:
        return _CredentialPlan("argument" if satisfied else "environment", explicit=explicit)
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
    return _CredentialPlan("secret", from_secret=tuple(missing), explicit=explicit)


def _credentials(
    plan: _CredentialPlan, target: _Resolved, scope: ExecutionScope | None
) -> _Credentials:
    """Read the linked secret if the plan needs it (audited inside a flow)."""
    if not plan.from_secret:
        return _Credentials({}, plan.source, plan.explicit)
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
    return _Credentials(kwargs, "secret", tuple(values))


def _read_linked_secret(name: str, scope: ExecutionScope | None) -> Any:
    from kitaru.secrets import Secret

    if scope is not None:
        return Secret(name, scope.secret_loader(name), scope.record_secret_read)
    # Outside a flow the same import-time rule as get_secret() applies.
    refuse_at_import_time(name, depth=1)
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
    text: str | None,
    response: Any,
    latency: float,
    litellm: Any,
    redact: Callable[[str], str],
    error: str | None = None,
) -> dict[str, Any]:
    cp = current_checkpoint_or_none()
    record = {
        "name": name,
        "model": target.model,
        "alias": target.alias,
        "checkpoint": cp.invocation_id if cp else None,
        "prompt": [
            {"role": m.get("role"), "content": redact(str(m.get("content")))} for m in messages
        ],
        "response": redact(text) if text is not None else None,
        "usage": _usage_of(response),
        "latency_s": round(latency, 4),
        "cost_usd": _cost_of(litellm, response) if response is not None else None,
        "credential_source": creds.source,
        "error": error,  # already redacted
        "at": time.time(),
    }
    scope.events.append(record)
    return record


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,95}\Z")


def _check_options(temperature: Any, max_tokens: Any, name: Any) -> None:
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


@dataclass
class _Call:
    """One prepared call: everything decided before a request (or a step) exists."""

    litellm: Any
    scope: ExecutionScope | None
    target: _Resolved
    messages: list[dict[str, Any]]
    plan: _CredentialPlan
    name: str | None
    temperature: float | None
    max_tokens: int | None
    provider_options: dict[str, Any]

    def start(self) -> tuple[dict[str, Any], _Credentials, Callable[[str], str]]:
        """Resolve credentials (reading the linked secret, audited) and build the kwargs."""
        creds = _credentials(self.plan, self.target, self.scope)
        own = Redactor()
        for value in creds.values:
            own.remember(value, secret=self.target.secret or "credential")
        kwargs = _call_kwargs(
            self.target,
            creds,
            self.messages,
            self.temperature,
            self.max_tokens,
            self.provider_options,
        )
        return kwargs, creds, _redactor_for(self.scope, own)

    def finish(
        self,
        creds: _Credentials,
        response: Any,
        started: float,
        redact: Callable[[str], str],
    ) -> str:
        """Record a successful call (inside a flow) and return the response text."""
        text = _text_of(response)
        self._record(creds, text, response, started, redact, None)
        return text

    def fail(
        self, creds: _Credentials, exc: Exception, started: float, redact: Callable[[str], str]
    ) -> LLMCallError:
        """Record a failed call (inside a flow) and return the redacted error to raise."""
        failure = _provider_error(exc, self.target, redact)
        self._record(creds, None, None, started, redact, failure.provider_error)
        return failure

    def _record(
        self,
        creds: _Credentials,
        text: str | None,
        response: Any,
        started: float,
        redact: Callable[[str], str],
        error: str | None,
    ) -> None:
        if self.scope is None:
            return
        _record(
            self.scope,
            name=self.name,
            target=self.target,
            creds=creds,
            messages=self.messages,
            text=text,
            response=response,
            latency=time.perf_counter() - started,
            litellm=self.litellm,
            redact=redact,
            error=error,
        )


def _prepare(
    prompt_or_messages: Any,
    model: str | None,
    system: str | None,
    temperature: Any,
    max_tokens: Any,
    name: Any,
    provider_options: dict[str, Any],
) -> _Call:
    """Validate, resolve the model and plan credentials; raises before anything is sent."""
    messages = _messages(prompt_or_messages, system)
    _check_options(temperature, max_tokens, name)
    scope = current_execution_or_none()
    target = _resolve_model(model, scope)
    litellm = _import_litellm()
    plan = _plan_credentials(litellm, target, provider_options)
    return _Call(
        litellm, scope, target, messages, plan, name, temperature, max_tokens, provider_options
    )


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
        KitaruValidationError: bad messages or options (nothing is sent).
        LLMSetupError: no model, or no credentials for it (nothing is sent).
        LLMCallError: the provider call failed (text redacted).
    """
    prepared = _prepare(
        prompt_or_messages, model, system, temperature, max_tokens, name, provider_options
    )

    def call() -> str:
        kwargs, creds, redact = prepared.start()
        started = time.perf_counter()
        failure: LLMCallError | None = None
        try:
            response = prepared.litellm.completion(**kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised as LLMCallError, redacted
            failure = prepared.fail(creds, exc, started, redact)
        if failure is not None:
            # Raised outside the except block, so the provider's exception (whose
            # request may carry the credential) is not chained to it.
            raise failure
        return prepared.finish(creds, response, started, redact)

    scope = prepared.scope
    if scope is not None and current_checkpoint_or_none() is None:
        return _as_boundary(scope, name, call, (prompt_or_messages, model, system))
    return call()


def _as_boundary(
    scope: ExecutionScope, name: str | None, call: Any, identity: tuple[Any, ...]
) -> str:
    """Run a flow-body LLM call as its own checkpoint (a ZenML step).

    ``identity`` (prompt, model, system) is what a replay matches the call on.
    """
    from kitaru.checkpoint import run_as_checkpoint

    label = f"llm_{name}" if name else "llm"
    return str(run_as_checkpoint(scope, label, call, identity))


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
    prepared = _prepare(
        prompt_or_messages, model, system, temperature, max_tokens, name, provider_options
    )
    kwargs, creds, redact = prepared.start()
    started = time.perf_counter()
    failure: LLMCallError | None = None
    try:
        response = await prepared.litellm.acompletion(**kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised as LLMCallError, redacted
        failure = prepared.fail(creds, exc, started, redact)
    if failure is not None:
        raise failure
    return prepared.finish(creds, response, started, redact)
