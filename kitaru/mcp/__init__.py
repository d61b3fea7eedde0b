"""kitaru's MCP server, started by the ``kitaru-mcp`` console script.

The server speaks MCP over stdio and exposes two metadata-only secret tools
(``kitaru_secrets_create`` and ``kitaru_secrets_list``). Nothing here is
imported by ``import kitaru``; the ``mcp`` SDK and the server module are only
imported when :func:`main` runs.
"""

from __future__ import annotations

__all__ = ["main"]

HELP = """Usage: kitaru-mcp [--help | --version]

Serve kitaru's MCP tools over stdio (stdin/stdout) until the client disconnects.
Start it from an MCP client, not by hand; for example, in the client's config:

  {"mcpServers": {"kitaru": {"command": "kitaru-mcp",
                             "env": {"KITARU_CONFIG_PATH": "/path/to/kitaru"}}}}

Tools: kitaru_secrets_create (create a secret; never overwrites or shadows one)
and kitaru_secrets_list (metadata only). No tool returns a secret value or
deletes a secret. The store is the one the kitaru CLI uses (KITARU_CONFIG_PATH,
KITARU_SERVER_URL / `kitaru login`).
"""


def main() -> None:
    """Console-script entry point: serve kitaru's MCP tools over stdin/stdout.

    stdout carries the MCP protocol only; diagnostics go to stderr.
    """
    import sys

    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(HELP)
        raise SystemExit(0)
    if args and args[0] == "--version":
        import kitaru

        sys.stdout.write(f"kitaru-mcp {kitaru.__version__}\n")
        raise SystemExit(0)
    if args:
        sys.stderr.write("kitaru-mcp: unexpected arguments; see kitaru-mcp --help.\n")
        raise SystemExit(2)

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
