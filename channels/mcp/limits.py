"""Rate limits on MCP tool calls: per token principal (HTTP) or stdio principal, and per client IP (HTTP).

``install_rate_limits(server, ...)`` wraps the server's ``call_tool`` once; a call over a limit is refused
before the tool runs with a tool error that says when to retry (``LIBROMIND_RATE_LIMIT_MCP*``).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError

from channels.ratelimit import RateLimited, RateLimiter
from memory.settings import Settings

__all__ = ["install_rate_limits"]

log = logging.getLogger(__name__)


def _client_ip(context: Any) -> str | None:
    try:
        request = context.request_context.request
    except Exception:  # noqa: BLE001 - no request context (stdio, direct calls)
        return None
    client = getattr(request, "client", None)
    return str(client.host) if client is not None and client.host else None


def install_rate_limits(
    server: MCPServer[Any],
    settings: Settings,
    *,
    transport: Literal["stdio", "http"],
    stdio_principal: str,
) -> RateLimiter:
    limiter = RateLimiter(settings)
    inner = server.call_tool

    async def call_tool(name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if transport == "http":
            access = get_access_token()
            principal, ip = (access.client_id if access else None), _client_ip(context)
        else:
            principal, ip = stdio_principal, None
        try:
            await limiter.check("mcp", principal=principal, ip=ip)
        except RateLimited as exc:
            log.info("mcp tool %s rate limited (%s, retry in %s s)", name, exc.scope, exc.retry_after_s)
            raise McpToolError(f"{exc.message} (retry_after_s={exc.retry_after_s})") from None
        return await inner(name, arguments, context)

    server.call_tool = call_tool  # type: ignore[method-assign]
    return limiter
