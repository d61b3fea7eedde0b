"""Where an LLM call goes, said in errors; and no long retries against a local server.

A connection error names the endpoint URL (without any user info or query string,
which may carry a key). An endpoint on this machine (the loopback range) that
refuses connections is not coming back within the provider SDK's backoff: calls
to it get one quick retry instead of the SDK's default.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# The provider SDK's retries for a loopback endpoint (one quick retry).
LOOPBACK_RETRIES = 1


def shown_endpoint(api_base: str | None) -> str | None:
    """``api_base`` without user info, query or fragment (None if not a URL)."""
    if not api_base:
        return None
    try:
        parts = urlsplit(str(api_base))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    netloc = f"[{host}]{port}" if ":" in host else f"{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def is_loopback(api_base: str | None) -> bool:
    """True if ``api_base`` points at this machine (127.0.0.0/8, ::1, localhost)."""
    if not api_base:
        return False
    try:
        host = urlsplit(str(api_base)).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def limit_loopback_retries(kwargs: dict[str, Any]) -> None:
    """Give a call to a loopback endpoint one quick retry, unless the caller chose."""
    if is_loopback(kwargs.get("api_base")) and "max_retries" not in kwargs:
        kwargs["max_retries"] = LOOPBACK_RETRIES


def is_connection_error(exc: BaseException) -> bool:
    """True if the call never reached the endpoint (refused, unreachable, DNS)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ConnectionError):
            return True
        name = type(seen).__name__
        if name in ("ConnectError", "APIConnectionError", "ConnectTimeout"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
