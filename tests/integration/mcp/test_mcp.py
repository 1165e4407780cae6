"""The MCP server through the real mcp Python client (stdio and streamable HTTP) and the official
Inspector CLI, against the real embedded PostgreSQL with seeded documents and catalog."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from channels.mcp.auth import McpSettings, mint_token
from channels.mcp.server import TOOL_NAMES, build_server
from memory.settings import Settings
from tests.integration.seed import seed_small

REPO = Path(__file__).resolve().parents[3]
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def seeded(deps, tmp_path: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    info = await seed_small(deps, tmp_path)
    row = await deps.db.fetchrow("SELECT isbn13 FROM books WHERE stock > 0 ORDER BY isbn13 LIMIT 1")
    assert row is not None, "seed catalog is empty"
    return {**info, "isbn": row["isbn13"]}


def _server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBROMIND_")}
    env.update(
        {
            "LIBROMIND_DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
            "LIBROMIND_HOME": str(settings.home),
            "LIBROMIND_DEMO_DATA": "false",
            "HF_HUB_OFFLINE": "1",
            "LIBROMIND_MCP_STDIO_PRINCIPAL": "agent:tester",
            "LIBROMIND_MCP_STDIO_SCOPES": '["orders"]',
            "LIBROMIND_CACHE": "off",
        }
    )
    env.update(extra)
    return env


def _structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def test_stdio_tools_with_schemas_and_an_order(settings: Settings, seeded: dict[str, Any]) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "libromind", "mcp"], env=_server_env(settings), cwd=str(REPO)
    )
    async with Client(params, read_timeout_seconds=120) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == set(TOOL_NAMES)
        for t in tools:
            assert t.output_schema is not None, f"{t.name} has no output schema"
            assert t.description and "principal" not in json.dumps(t.input_schema)
        place = next(t for t in tools if t.name == "place_order")
        assert "idempotency" not in json.dumps(place.input_schema).lower()

        docs = _structured(
            await client.call_tool("search_documents", {"query": "package name rules", "k": 3})
        )
        assert docs["results"] and all(r["source"].endswith(".html") for r in docs["results"])

        book = _structured(await client.call_tool("get_book", {"isbn": seeded["isbn"]}))
        assert book["price_cents"] > 0 and book["demo_price"] is True

        quote = _structured(
            await client.call_tool("quote_order", {"items": [{"isbn": seeded["isbn"], "quantity": 1}]})
        )
        assert quote["total_cents"] == book["price_cents"]
        first = _structured(await client.call_tool("place_order", {"confirmation_token": quote["token"]}))
        again = _structured(await client.call_tool("place_order", {"confirmation_token": quote["token"]}))
        assert first["order_id"] == again["order_id"], (
            "the same confirmation token must never create two orders"
        )
        assert first["total_cents"] == quote["total_cents"]
        status = _structured(await client.call_tool("order_status", {"order_id": first["order_id"]}))
        assert status["order_id"] == first["order_id"] and status["status"] == "placed"

        bad = await client.call_tool("get_book", {"isbn": "0000000000"})
        assert bad.is_error
        neg = await client.call_tool("quote_order", {"items": [{"isbn": seeded["isbn"], "quantity": -3}]})
        assert neg.is_error

        reply = _structured(await client.call_tool("ask", {"message": "What must a package name contain?"}))
        assert reply["citations"] and reply["answer"]
        ack = _structured(
            await client.call_tool("submit_feedback", {"answer_id": reply["answer_id"], "score": 1})
        )
        assert ack["stored"] is True


@pytest.fixture
def http_server(settings: Settings) -> Iterator[dict[str, Any]]:
    full, full_hash = mint_token()
    limited, limited_hash = mint_token()
    port = _free_port()
    ms = McpSettings(
        host="127.0.0.1",
        port=port,
        _env_file=None,  # type: ignore[call-arg]
        tokens={
            full_hash: {"principal": "agent:full", "scopes": ["orders", "internal"]},
            limited_hash: {"principal": "agent:limited", "scopes": []},
        },
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
    yield {"url": f"http://127.0.0.1:{port}/mcp", "full": full, "limited": limited}
    server.should_exit = True
    thread.join(10)


def _http_client(url: str, token: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=120)


async def test_http_requires_a_valid_bearer_token(
    http_server: dict[str, Any], seeded: dict[str, Any]
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient() as c:
        r = await c.post(http_server["url"], json=body)
        assert r.status_code == 401
        r = await c.post(http_server["url"], json=body, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401


async def test_http_scopes_limit_orders_and_internal_documents(
    http_server: dict[str, Any], seeded: dict[str, Any]
) -> None:
    query = {"query": "refund escalation for damaged books", "k": 10}
    async with _http_client(http_server["url"], http_server["limited"]) as client:
        res = _structured(await client.call_tool("search_documents", query))
        internal = {p.name for p in (REPO / "evals/datasets/internal_docs").glob("*.md")}
        assert not [r for r in res["results"] if r["source"] in internal], (
            "limited token saw internal documents"
        )
        denied = await client.call_tool("quote_order", {"items": [{"isbn": seeded["isbn"], "quantity": 1}]})
        assert denied.is_error and "orders" in json.dumps([c.model_dump() for c in denied.content])
    async with _http_client(http_server["url"], http_server["full"]) as client:
        res = _structured(await client.call_tool("search_documents", query))
        assert [r for r in res["results"] if r["source"] in internal], (
            "internal scope should reach internal docs"
        )
        quote = _structured(
            await client.call_tool("quote_order", {"items": [{"isbn": seeded["isbn"], "quantity": 1}]})
        )
        assert quote["token"]


def _npx() -> str:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx (Node.js) is required for the MCP Inspector tests")
    return npx


def _inspector(args: list[str], env: dict[str, str] | None = None) -> Any:
    proc = subprocess.run(
        [_npx(), "-y", INSPECTOR, "--cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"inspector failed: {proc.stderr[-2000:]}\n{proc.stdout[-2000:]}"
    return json.loads(proc.stdout)


def test_inspector_cli_over_stdio(settings: Settings, seeded: dict[str, Any]) -> None:
    # The Inspector starts stdio servers with a minimal environment: pass ours explicitly with -e.
    env = _server_env(settings)
    flags = [f for k, v in env.items() if k.startswith(("LIBROMIND_", "HF_")) for f in ("-e", f"{k}={v}")]
    server = ["--", sys.executable, "-m", "libromind", "mcp"]
    listed = _inspector([*flags, "--method", "tools/list", *server])
    assert {t["name"] for t in listed["tools"]} == set(TOOL_NAMES)
    # The Inspector turns digit-only values into numbers; a hyphenated ISBN stays a string (and is normalised).
    hyphenated = f"{seeded['isbn'][:3]}-{seeded['isbn'][3:]}"
    called = _inspector(
        [
            *flags,
            "--method",
            "tools/call",
            "--tool-name",
            "get_book",
            "--tool-arg",
            f"isbn={hyphenated}",
            *server,
        ]
    )
    assert called["structuredContent"]["isbn"] == seeded["isbn"]


def test_inspector_cli_over_http(http_server: dict[str, Any], seeded: dict[str, Any]) -> None:
    listed = _inspector(
        [
            http_server["url"],
            "--transport",
            "http",
            "--method",
            "tools/list",
            "--header",
            f"Authorization: Bearer {http_server['full']}",
        ]
    )
    assert {t["name"] for t in listed["tools"]} == set(TOOL_NAMES)
    called = _inspector(
        [
            http_server["url"],
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "search_documents",
            "--tool-arg",
            "query=maintainer scripts",
            "--header",
            f"Authorization: Bearer {http_server['full']}",
        ]
    )
    assert called["structuredContent"]["results"]
