"""kitaru's MCP server, started by the ``kitaru-mcp`` console script.

The server speaks MCP over stdio and exposes two metadata-only secret tools
(``kitaru_secrets_create`` and ``kitaru_secrets_list``). Nothing here is
imported by ``import kitaru``; the ``mcp`` SDK and the server module are only
imported when :func:`main` runs.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Console-script entry point: serve kitaru's MCP tools over stdin/stdout.

    stdout carries the MCP protocol only; diagnostics go to stderr.
    """
    import sys

    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError as exc:  # pragma: no cover - mcp is a declared dependency
        sys.stderr.write(
            f"kitaru-mcp: the `mcp` package (>=2,<3) is required but could not be imported "
            f"({type(exc).__name__}). Reinstall kitaru to fix it.\n"
        )
        raise SystemExit(1) from None

    from kitaru.mcp.server import run

    try:
        run()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
