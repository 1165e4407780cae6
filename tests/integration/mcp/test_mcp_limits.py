"""MCP tool calls are rate limited per token and per client IP, over the real streamable-HTTP transport
with the real mcp client (real embedded PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from channels.mcp.auth import McpSettings, mint_token
from channels.mcp.server import build_server
from memory.settings import Settings
from tests.integration.mcp.test_mcp import _free_port, _http_client


@pytest.fixture
def limited_server(settings: Settings) -> Iterator[dict[str, Any]]:
    first, first_hash = mint_token()
    second, second_hash = mint_token()
    port = _free_port()
    ms = McpSettings(
        host="127.0.0.1",
        port=port,
        _env_file=None,  # type: ignore[call-arg]
        tokens={
            first_hash: {"principal": "agent:first", "scopes": []},
            second_hash: {"principal": "agent:second", "scopes": []},
        },
    )
    s = settings.model_copy(
        update={"cache": "off", "rate_limit_mcp": "3/minute", "rate_limit_mcp_ip": "5/minute"}
    )
    app = build_server(s, transport="http", mcp_settings=ms).streamable_http_app(host="127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}/mcp", "first": first, "second": second}
    server.should_exit = True
    thread.join(10)


def _text(result: Any) -> str:
    return json.dumps([c.model_dump() for c in result.content])


async def test_a_burst_of_tool_calls_is_refused_with_when_to_retry(limited_server: dict[str, Any]) -> None:
    args = {"query": "opening hours", "k": 1}
    async with _http_client(limited_server["url"], limited_server["first"]) as client:
        for _ in range(3):
            ok = await client.call_tool("search_documents", args)
            assert not ok.is_error, _text(ok)
        refused = await client.call_tool("search_documents", args)
        assert refused.is_error, "the 4th call within a minute should be rate limited"
        assert "retry in" in _text(refused) and "account" in _text(refused)
        other_tool = await client.call_tool("browse_catalog", {"query": "dune"})
        assert other_tool.is_error and "retry" in _text(other_tool), "the limit covers every tool"
    # another token from the same address: its own budget, until the per-IP limit (5/minute) is reached
    async with _http_client(limited_server["url"], limited_server["second"]) as client:
        for _ in range(2):
            ok = await client.call_tool("search_documents", args)
            assert not ok.is_error, _text(ok)
        refused = await client.call_tool("search_documents", args)
        assert refused.is_error and "address" in _text(refused) and "retry in" in _text(refused)
