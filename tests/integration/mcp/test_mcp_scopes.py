"""MCP token scopes reach every path (issue 12, item 3), through the real mcp client over stdio and
streamable HTTP and the official Inspector CLI, against the real embedded PostgreSQL.

- A token without ``orders`` cannot order through ``ask`` ("I want to buy <isbn>", then "yes"): no
  quote row, no order row, a worded refusal. A token with ``orders`` still can (control).
- An ``employee:`` token without ``internal`` never reads internal documents (``search_documents`` and
  ``ask``), although employees read them by default; with ``internal`` it does (control).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from mcp import Client, StdioServerParameters

from channels.mcp.auth import McpSettings, mint_token
from channels.mcp.server import build_server
from memory.settings import Settings
from tests.integration.mcp.test_mcp import (
    _free_port,
    _http_client,
    _inspector,
    _server_env,
    _structured,
    seeded,  # noqa: F401 - fixture
)

REPO = Path(__file__).resolve().parents[3]
INTERNAL = {p.name for p in (REPO / "evals/datasets/internal_docs").glob("*.md")}
INTERNAL_Q = "refund escalation for damaged books"


async def _rows(deps: Any, sql: str, *params: Any) -> list[dict[str, Any]]:
    return list(await deps.db.fetch(sql, *params))


def _internal_in(rows: list[dict[str, Any]]) -> list[str]:
    return [r["source"] for r in rows if r.get("source") in INTERNAL]


async def _buy_then_yes(client: Client, isbn: str, thread: str) -> tuple[dict[str, Any], dict[str, Any]]:
    first = _structured(await client.call_tool("ask", {"message": f"I want to buy {isbn}", "thread": thread}))
    second = _structured(await client.call_tool("ask", {"message": "yes", "thread": thread}))
    return first, second


async def _assert_no_order(deps: Any, principal: str, first: dict, second: dict) -> None:
    assert first.get("order") is None and second.get("order") is None, (first, second)
    assert "'orders' scope" in first["answer"] and "Please confirm" not in first["answer"], first["answer"]
    quotes = await _rows(deps, "SELECT id FROM quotes WHERE principal = %s", principal)
    orders = await _rows(deps, "SELECT id FROM orders WHERE principal = %s", principal)
    assert not quotes, f"a token without 'orders' got a quote through ask: {quotes}"
    assert not orders, f"a token without 'orders' placed an order through ask: {orders}"


# ------------------------------------------------------------------------------------------- stdio
async def test_stdio_without_orders_or_internal_scope(
    settings: Settings,
    deps: Any,
    seeded: dict[str, Any],  # noqa: F811
) -> None:
    env = _server_env(
        settings,
        LIBROMIND_MCP_STDIO_PRINCIPAL="employee:eve",
        LIBROMIND_MCP_STDIO_SCOPES="[]",
    )
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "libromind", "mcp"], env=env, cwd=str(REPO)
    )
    async with Client(params, read_timeout_seconds=120) as client:
        res = _structured(await client.call_tool("search_documents", {"query": INTERNAL_Q, "k": 20}))
        assert res["results"], "the search should still find public passages"
        assert not _internal_in(res["results"]), "an employee token without 'internal' read internal docs"
        reply = _structured(await client.call_tool("ask", {"message": f"What is the {INTERNAL_Q} policy?"}))
        assert not _internal_in(reply["citations"]), "ask cited internal docs without the 'internal' scope"
        first, second = await _buy_then_yes(client, seeded["isbn"], "buy-stdio")
    await _assert_no_order(deps, "employee:eve", first, second)


# -------------------------------------------------------------------------------------------- HTTP
@pytest.fixture
def scoped_http(settings: Settings) -> Iterator[dict[str, Any]]:
    tokens = {name: mint_token() for name in ("eve", "ida", "bot", "buyer")}
    grants = {
        "eve": {"principal": "employee:eve", "scopes": []},
        "ida": {"principal": "employee:ida", "scopes": ["internal"]},
        "bot": {"principal": "agent:bot", "scopes": ["internal"]},
        "buyer": {"principal": "agent:buyer", "scopes": ["orders"]},
    }
    port = _free_port()
    ms = McpSettings(
        host="127.0.0.1",
        port=port,
        _env_file=None,  # type: ignore[call-arg]
        tokens={tokens[n][1]: g for n, g in grants.items()},
    )
    s = settings.model_copy(update={"cache": "off"})
    app = build_server(s, transport="http", mcp_settings=ms).streamable_http_app(host="127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "MCP HTTP server did not start"
    yield {"url": f"http://127.0.0.1:{port}/mcp", **{n: t[0] for n, t in tokens.items()}}
    server.should_exit = True
    thread.join(10)


async def test_http_ask_without_orders_scope_places_nothing(
    deps: Any,
    scoped_http: dict[str, Any],
    seeded: dict[str, Any],  # noqa: F811
) -> None:
    async with _http_client(scoped_http["url"], scoped_http["bot"]) as client:
        first, second = await _buy_then_yes(client, seeded["isbn"], "buy-http")
        await _assert_no_order(deps, "agent:bot", first, second)
        status = _structured(await client.call_tool("ask", {"message": "show my orders", "thread": "st"}))
        assert "'orders' scope" in status["answer"], status["answer"]
    # control: the same conversation with an 'orders' token quotes and places exactly one order
    async with _http_client(scoped_http["url"], scoped_http["buyer"]) as client:
        first, second = await _buy_then_yes(client, seeded["isbn"], "buy-http")
        assert "confirm" in first["answer"].lower(), first["answer"]
        assert second["order"] and second["order"]["id"], second
        orders = await _rows(deps, "SELECT id FROM orders WHERE principal = %s", "agent:buyer")
        oid = second["order"]["id"]
        assert [o["id"] for o in orders] == [oid]
        # issue 12 item 14: the order list and status name the order (they printed "None")
        listed = _structured(await client.call_tool("ask", {"message": "show my orders", "thread": "l"}))
        assert f"- {oid}: placed" in listed["answer"] and "None" not in listed["answer"], listed["answer"]
        # (in the ordering thread: the agent remembers the order it placed)
        status = _structured(
            await client.call_tool(
                "ask", {"message": "what is the status of my order?", "thread": "buy-http"}
            )
        )
        assert f"Order {oid} is placed" in status["answer"], status["answer"]


async def test_http_employee_token_without_internal_reads_no_internal_docs(
    scoped_http: dict[str, Any],
    seeded: dict[str, Any],  # noqa: F811
) -> None:
    query = {"query": INTERNAL_Q, "k": 20}
    question = {"message": f"What is the {INTERNAL_Q} policy?"}
    async with _http_client(scoped_http["url"], scoped_http["eve"]) as client:
        res = _structured(await client.call_tool("search_documents", query))
        assert res["results"] and not _internal_in(res["results"]), "employee token without 'internal'"
        reply = _structured(await client.call_tool("ask", question))
        assert not _internal_in(reply["citations"]), reply["citations"]
    # control: the same employee kind with the 'internal' scope does read them
    async with _http_client(scoped_http["url"], scoped_http["ida"]) as client:
        res = _structured(await client.call_tool("search_documents", query))
        assert _internal_in(res["results"]), "an 'internal' token should reach internal docs"


# ------------------------------------------------------------------------------------ Inspector CLI
def test_inspector_employee_without_internal_over_stdio_and_http(
    settings: Settings,
    scoped_http: dict[str, Any],
    seeded: dict[str, Any],  # noqa: F811
) -> None:
    env = _server_env(settings, LIBROMIND_MCP_STDIO_PRINCIPAL="employee:eve", LIBROMIND_MCP_STDIO_SCOPES="[]")
    flags = [f for k, v in env.items() if k.startswith(("LIBROMIND_", "HF_")) for f in ("-e", f"{k}={v}")]
    call = ["--method", "tools/call", "--tool-name", "search_documents", "--tool-arg", f"query={INTERNAL_Q}"]
    over_stdio = _inspector([*flags, *call, "--", sys.executable, "-m", "libromind", "mcp"])
    results = over_stdio["structuredContent"]["results"]
    assert results and not _internal_in(results), "stdio employee without 'internal' read internal docs"
    over_http = _inspector(
        [
            scoped_http["url"],
            "--transport",
            "http",
            *call,
            "--header",
            f"Authorization: Bearer {scoped_http['eve']}",
        ]
    )
    results = over_http["structuredContent"]["results"]
    assert results and not _internal_in(results), "HTTP employee token without 'internal' read internal docs"
