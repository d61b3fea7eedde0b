"""``kitaru.llm()``: one LLM call through litellm, with model aliases and linked secrets.

Model: explicit ``model=`` (an alias if one matches, else a raw ``provider/model``
string), then ``KITARU_DEFAULT_MODEL`` (same rule), then the default alias.

Credentials, environment first: if the variables litellm says the provider needs
are set, litellm uses them. Otherwise the alias's linked secret is read (lazily
and once per execution inside a flow, audited like any read) and its values are
passed to litellm for this one call only (``api_key=``, ``api_base=``, ...).
A credential given explicitly as a provider option (``api_key=...``) counts as
set. Credentials never go into ``os.environ``: the one variable kitaru sets for
litellm is ``LITELLM_LOCAL_MODEL_COST_MAP`` (when unset), so that importing it
stays offline. Which source applies is decided before anything is sent; the
secret itself is read when the call runs (for a flow-body call, inside its own
checkpoint, so the read is attributed to it).

Tracking: inside a checkpoint a call is recorded as an event of that checkpoint;
in a flow body outside any checkpoint the call is its own durable boundary (a
ZenML step whose output is the response); outside a flow it is not tracked.
Records hold prompt, response, token usage, latency, cost, credential source and,
for a failed call, the provider's error, with secret values redacted. Provider
errors are raised as :class:`~kitaru.errors.LLMCallError` without the provider's
exception chained (its request may carry the credential).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kitaru._run.llm_endpoint import is_connection_error, limit_loopback_retries, shown_endpoint
from kitaru._run.llm_setup import (
    CredentialPlan,
    Credentials,
    Resolved,
    build_messages,
    check_options,
    credential_label,
    environment_credentials,
    import_litellm,
    plan_credentials,
    read_credentials,
    resolve_model,
)
from kitaru.errors import LLMCallError
from kitaru.runtime import (
    ExecutionScope,
    Redactor,
    current_checkpoint_or_none,
    current_execution_or_none,
    execution_of_this_thread,
)

__all__ = ["allm", "llm"]


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
    target: Resolved,
    creds: Credentials,
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
    limit_loopback_retries(kwargs)
    if temperature is not None:
        kwargs["temperature"] = temperature
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    return kwargs


def _provider_error(
    exc: Exception, target: Resolved, redact: Callable[[str], str], api_base: str | None
) -> LLMCallError:
    text = redact(f"{type(exc).__name__}: {exc}")
    if is_connection_error(exc):
        where = shown_endpoint(api_base) or "the provider's default endpoint"
        text = redact(f"cannot connect to {where} ({type(exc).__name__}: {exc})")
    return LLMCallError(
        f"LLM call to {target.model!r} failed: {text}", model=target.model, provider_error=text
    )


def _record(
    scope: ExecutionScope,
    *,
    name: str | None,
    target: Resolved,
    creds: Credentials,
    messages: list[dict[str, Any]],
    text: str | None,
    response: Any,
    latency: float,
    litellm: Any,
    redact: Callable[[str], str],
    error: str | None = None,
) -> dict[str, Any]:
    cp = scope.checkpoint_of_this_thread()
    label, overridden = credential_label(creds.source, target)
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
        # By name only: "secret:NAME" or "env:VAR"; and a linked secret an env var overrode.
        "credential": label,
        "credential_overrides_secret": overridden,
        "error": error,  # already redacted
        "at": time.time(),
    }
    scope.events.append(record)
    return record


@dataclass
class _Call:
    """One prepared call: everything decided before a request (or a step) exists."""

    litellm: Any
    scope: ExecutionScope | None
    target: Resolved
    messages: list[dict[str, Any]]
    plan: CredentialPlan
    name: str | None
    temperature: float | None
    max_tokens: int | None
    provider_options: dict[str, Any]

    def start(self) -> tuple[dict[str, Any], Credentials, Callable[[str], str]]:
        """Resolve credentials (reading the linked secret, audited) and build the kwargs."""
        creds = read_credentials(self.plan, self.target, self.scope)
        own = Redactor()
        for value in creds.values:
            own.remember(value, secret=self.target.secret or "credential")
        for value in environment_credentials():
            own.remember(value, secret="environment")
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
        creds: Credentials,
        response: Any,
        started: float,
        redact: Callable[[str], str],
    ) -> str:
        """Record a successful call (inside a flow) and return the response text."""
        text = _text_of(response)
        self._record(creds, text, response, started, redact, None)
        return text

    def fail(
        self, creds: Credentials, exc: Exception, started: float, redact: Callable[[str], str]
    ) -> LLMCallError:
        """Record a failed call (inside a flow) and return the redacted error to raise."""
        api_base = self.provider_options.get("api_base") or self.target.api_base
        failure = _provider_error(exc, self.target, redact, api_base)
        self._record(creds, None, None, started, redact, failure.provider_error)
        return failure

    def _record(
        self,
        creds: Credentials,
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
    messages = build_messages(prompt_or_messages, system)
    check_options(temperature, max_tokens, name)
    # A thread started inside a body has no kitaru context; its call still
    # belongs to the running execution (and uses that run's model aliases).
    scope = execution_of_this_thread()
    target = resolve_model(model, scope)
    litellm = import_litellm()
    plan = plan_credentials(litellm, target, provider_options)
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
    if scope is not None and _in_flow_body():
        return _as_boundary(scope, name, call, (prompt_or_messages, model, system))
    return call()


def _in_flow_body() -> bool:
    """True for a call the flow body makes itself: a durable boundary of its own."""
    return current_execution_or_none() is not None and current_checkpoint_or_none() is None


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
    if _in_flow_body():
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
