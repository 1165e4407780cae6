"""``libromind mcp [--http]``: the MCP server over stdio (default) or streamable HTTP with bearer tokens."""

from __future__ import annotations

import json

import typer

from libromind.commands._common import console, fail
from memory.home import ensure_home
from memory.logs import setup_logging
from memory.settings import get_settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    mcp_app = typer.Typer(help="The MCP server for other AI agents.", invoke_without_command=True)

    @mcp_app.callback()
    def mcp(
        ctx: typer.Context,
        http: bool = typer.Option(False, "--http", help="Streamable HTTP (bearer tokens) instead of stdio."),
        host: str = typer.Option(None, help="HTTP bind address (default LIBROMIND_MCP_HOST)."),
        port: int = typer.Option(None, help="HTTP port (default LIBROMIND_MCP_PORT, 8100)."),
    ) -> None:
        """Serve libromind's tools over MCP (stdio by default)."""
        if ctx.invoked_subcommand is not None:
            return
        from channels.mcp.auth import McpSettings
        from channels.mcp.server import build_server

        settings = get_settings()
        ms = McpSettings()
        if host:
            ms = ms.model_copy(update={"host": host})
        if port:
            ms = ms.model_copy(update={"port": port})
        if settings.database_url is None:
            ensure_home(settings.home)
        if http:
            if not ms.tokens:
                raise fail(
                    "No MCP tokens configured: create one with `libromind mcp token --principal agent:NAME`."
                )
            server = build_server(settings, transport="http", mcp_settings=ms)
            console.print(f"MCP streamable HTTP on http://{ms.host}:{ms.port}/mcp", highlight=False)
            server.run("streamable-http", host=ms.host, port=ms.port)
        else:
            # stdout carries the protocol: logs go to stderr only.
            setup_logging(settings.log_level, json_logs=True)
            build_server(settings, transport="stdio", mcp_settings=ms).run("stdio")

    @mcp_app.command("token")
    def token(
        principal: str = typer.Option(..., help="agent:NAME (or customer:ID / employee:ID[:groups])."),
        scopes: str = typer.Option("", help="Comma-separated: orders, internal, group:NAME."),
    ) -> None:
        """Mint a bearer token; prints it once, and the LIBROMIND_MCP_TOKENS entry (a hash) to configure."""
        from channels.mcp.auth import mint_token
        from memory.principals import Principal, PrincipalError

        try:
            p = Principal.parse(principal)
        except PrincipalError as exc:
            raise fail(str(exc)) from None
        token_value, digest = mint_token()
        grant = {"principal": str(p), "scopes": [s.strip() for s in scopes.split(",") if s.strip()]}
        console.print(f"token (shown once): {token_value}", highlight=False)
        console.print("add to LIBROMIND_MCP_TOKENS:", highlight=False)
        console.print(json.dumps({digest: grant}), highlight=False, soft_wrap=True)

    app.add_typer(mcp_app, name="mcp")
