"""Which credential a ``kitaru.llm()`` call with a model alias would use now.

Used by ``kitaru model show``. The same planning as a real call decides
(:func:`kitaru._run.llm_setup.plan_credentials`): the provider's environment
variables first, else the alias's linked secret, and the same label as the run
record (:func:`kitaru._run.llm_setup.credential_label`). Only names are reported.
"""

from __future__ import annotations

from typing import Any

from kitaru.errors import KitaruError, LLMSetupError
from kitaru.models import ModelAlias


def _linked_keys(secret: str) -> tuple[str, ...]:
    """Key names of the linked secret; empty if it cannot be read now."""
    from kitaru._store import secret_store

    try:
        return secret_store.get_secret(secret).keys
    except KitaruError:
        return ()


def _is_missing(secret: str) -> bool:
    """True if no secret of this name exists (one that exists but cannot be read is not)."""
    from kitaru._store import secret_store
    from kitaru.errors import SecretNotFoundError

    try:
        secret_store.get_secret(secret)
    except SecretNotFoundError:
        return True
    except KitaruError:
        return False
    return False


def credential_source(alias: ModelAlias) -> dict[str, Any]:
    """``{"source", "variables", "overridden_secret", "summary"}`` for ``alias``; no values.

    ``source`` is ``env:VAR[,VAR]`` (or ``environment`` when litellm needs no
    named variable), ``secret:NAME``, or ``none`` (the call would fail).
    """
    from kitaru._run.llm_providers import KnownProviders
    from kitaru._run.llm_setup import (
        Resolved,
        credential_label,
        environment_variables,
        plan_credentials,
    )

    target = Resolved(alias.model, alias.alias, alias.secret, alias.api_base)
    try:
        # The providers' variables without importing litellm (seconds) where kitaru knows them.
        plan = plan_credentials(KnownProviders(), target, {})
    except LLMSetupError as exc:
        return {
            "source": "none",
            "variables": list(exc.missing),
            "overridden_secret": None,
            "summary": f"none: {exc}",
        }
    if plan.source == "secret":
        variables = list(plan.from_secret)
        if alias.secret and _is_missing(alias.secret):
            return {
                "source": "none",
                "variables": variables,
                "overridden_secret": None,
                "summary": (
                    f"none: the linked secret '{alias.secret}' is missing (deleted?); a call "
                    f"fails until you run `kitaru secrets set {alias.secret} "
                    f"--{variables[0] if variables else 'KEY'}=...` or set "
                    f"{', '.join(variables) or 'the provider variable'} in the environment"
                ),
            }
        source = credential_label(plan.source, target)[0]
        return {
            "source": source,
            "variables": variables,
            "overridden_secret": None,
            "summary": f"{source} ({', '.join(variables)})",
        }
    linked = _linked_keys(alias.secret) if alias.secret else ()
    source, overridden = credential_label(plan.source, target, linked)
    note = f" (overrides the linked secret '{overridden}')" if overridden else ""
    return {
        "source": source,
        "variables": environment_variables(alias.model, linked),
        "overridden_secret": overridden,
        "summary": f"{source}{note}",
    }
