"""Which environment variables a provider needs, answered without importing litellm.

``kitaru model show`` names the credential a call would use; deciding that needs
the variables litellm's ``validate_environment`` asks for, and importing litellm
costs seconds. :data:`PROVIDER_KEYS` is that function's answer for each
``PROVIDER/`` prefix, as litellm 1.110 gives it (tests/test_llm_providers.py checks
every entry against the installed litellm). A model whose prefix is not here
(or has none) is asked of litellm itself.
"""

from __future__ import annotations

import os

# provider -> (alternatives: the call has credentials if every variable of one is
# set; the variables litellm reports missing otherwise).
Need = tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]

_ONE_KEY = {
    "openai": "OPENAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "replicate": "REPLICATE_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "vercel_ai_gateway": "VERCEL_AI_GATEWAY_API_KEY",
    "edenai": "EDENAI_API_KEY",
    "datarobot": "DATAROBOT_API_TOKEN",
    "huggingface": "HUGGINGFACE_API_KEY",
    "ai21": "AI21_API_KEY",
    "ai21_chat": "AI21_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "baseten": "BASETEN_API_KEY",
    "nlp_cloud": "NLP_CLOUD_API_KEY",
    "ollama": "OLLAMA_API_BASE",
    "ollama_chat": "OLLAMA_API_BASE",
    "deepinfra": "DEEPINFRA_API_KEY",
    "featherless_ai": "FEATHERLESS_AI_API_KEY",
    "groq": "GROQ_API_KEY",
    "nvidia_nim": "NVIDIA_NIM_API_KEY",
    "cerebras": "CEREBRAS_API_KEY",
    "xai": "XAI_API_KEY",
    "volcengine": "VOLCENGINE_API_KEY",
    "codestral": "CODESTRAL_API_KEY",
    "text-completion-codestral": "CODESTRAL_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
    "voyage": "VOYAGE_API_KEY",
    "infinity": "INFINITY_API_KEY",
    "novita": "NOVITA_API_KEY",
    "nebius": "NEBIUS_API_KEY",
    "wandb": "WANDB_API_KEY",
    "moonshot": "MOONSHOT_API_KEY",
}
_AWS: Need = (
    (
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ("AWS_ROLE_ARN",),
        ("AWS_PROFILE",),
        ("AWS_WEB_IDENTITY_TOKEN_FILE",),
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
    ),
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
)
PROVIDER_KEYS: dict[str, Need] = {
    **{provider: (((key,),), (key,)) for provider, key in _ONE_KEY.items()},
    "azure": (
        (("AZURE_API_BASE", "AZURE_API_VERSION", "AZURE_API_KEY"),),
        ("AZURE_API_BASE", "AZURE_API_VERSION", "AZURE_API_KEY"),
    ),
    "anthropic": ((("ANTHROPIC_API_KEY",), ("ANTHROPIC_AUTH_TOKEN",)), ("ANTHROPIC_API_KEY",)),
    "vertex_ai": (
        (("VERTEXAI_PROJECT", "VERTEXAI_LOCATION"),),
        ("VERTEXAI_PROJECT", "VERTEXAI_LOCATION"),
    ),
    "bedrock": _AWS,
    "sagemaker": _AWS,
    "gemini": ((("GOOGLE_API_KEY",), ("GEMINI_API_KEY",)), ("GOOGLE_API_KEY", "GEMINI_API_KEY")),
    "fireworks_ai": (
        (
            ("FIREWORKS_AI_API_KEY",),
            ("FIREWORKS_API_KEY",),
            ("FIREWORKSAI_API_KEY",),
            ("FIREWORKS_AI_TOKEN",),
        ),
        ("FIREWORKS_AI_API_KEY",),
    ),
    "cloudflare": (
        (
            ("CLOUDFLARE_API_KEY", "CLOUDFLARE_ACCOUNT_ID"),
            ("CLOUDFLARE_API_KEY", "CLOUDFLARE_API_BASE"),
        ),
        ("CLOUDFLARE_API_KEY", "CLOUDFLARE_API_BASE"),
    ),
    "dashscope": ((("DASHSCOPE_API_KEY",),), ("DASHSCOPE_API_KEY",)),
}


def missing_keys(model: str, api_base: str | None = None) -> list[str] | None:
    """litellm's ``validate_environment(model, api_base)["missing_keys"]``; None if not known.

    As litellm: a variable counts when it is in the environment (even empty), and
    with ``api_base`` given no ``*API_BASE*`` variable is reported missing.
    """
    provider, slash, rest = model.partition("/")
    need = PROVIDER_KEYS.get(provider) if slash and rest else None
    if need is None:
        return None
    alternatives, reported = need
    if any(all(var in os.environ for var in option) for option in alternatives):
        return []
    missing = list(reported)
    if api_base is not None:
        missing = [key for key in missing if "api_base" not in key.lower()]
    return missing


class KnownProviders:
    """Stands in for litellm in ``plan_credentials``: the table first, litellm for the rest."""

    def validate_environment(self, model: str, api_base: str | None = None) -> dict[str, object]:
        """The answer litellm would give (litellm imported only for a provider not known)."""
        missing = missing_keys(model, api_base)
        if missing is None:
            from kitaru._run.llm_setup import import_litellm

            return dict(import_litellm().validate_environment(model=model, api_base=api_base))
        return {"keys_in_environment": not missing, "missing_keys": missing}
