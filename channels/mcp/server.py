"""The MCP server: the same functions as tools/ (and ChatService for ``ask``) over stdio or HTTP.

The principal is never a tool argument: over HTTP it comes from the bearer token (with its scopes),
over stdio from LIBROMIND_MCP_STDIO_PRINCIPAL / LIBROMIND_MCP_STDIO_SCOPES. A token without the
``orders`` scope cannot quote, place or read orders; one without ``internal`` never sees internal
documents, whatever its principal's kind (its principal's ACL scopes exclude them inside every index
query), and ``ask`` refuses order steps without ``orders`` (the scopes reach the agent context).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from pydantic import AnyHttpUrl

from agent.service import ChatService
from channels.mcp.auth import McpSettings, StaticTokenVerifier, principal_from_token
from channels.mcp.limits import install_rate_limits
from channels.mcp.schemas import (
    AskReply,
    Book,
    BookPage,
    FeedbackAck,
    Order,
    OrderLine,
    Quote,
    Recommendations,
    SearchResults,
)
from memory.principals import Principal, scoped_principal
from memory.settings import Settings
from tools import catalog, knowledge, orders
from tools.deps import Deps, use
from tools.errors import ToolError

__all__ = ["build_server", "TOOL_NAMES"]

log = logging.getLogger(__name__)
TOOL_NAMES = (
    "search_documents",
    "ask",
    "browse_catalog",
    "get_book",
    "recommend",
    "quote_order",
    "place_order",
    "order_status",
    "submit_feedback",
)
INSTRUCTIONS = (
    "libromind: a bookstore's assistant. Search its help documents (search_documents) or ask a full question "
    "(ask) for a grounded answer with citations; browse the catalog (browse_catalog, get_book, recommend). "
    "To order: quote_order, show the quote to the user, and call place_order with the quote's token only after "
    "the user explicitly confirms. Prices marked demo_price are demo values."
)


def build_server(
    settings: Settings,
    *,
    transport: Literal["stdio", "http"],
    mcp_settings: McpSettings | None = None,
    deps: Deps | None = None,
) -> MCPServer[Any]:
    ms = mcp_settings or McpSettings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        d = deps or await Deps.build(settings)
        use(d)
        state["deps"] = d
        state["chat"] = await ChatService.create(d)
        try:
            yield state
        finally:
            if deps is None:
                await d.close()

    def scoped() -> tuple[Principal, frozenset[str]]:
        """The caller (a :class:`ScopedPrincipal`) and its MCP scopes.

        Whatever the principal's kind, what it may read is the intersection of its own ACL scopes and
        the token's (``internal``, ``group:*``; an ``agent:`` reads what its token grants), and the
        ``orders`` capability (quote, place, read its *own* orders, also through ``ask``) comes only
        from the token; the token never widens the principal's rights."""
        if transport == "http":
            access = get_access_token()
            if access is None:  # the bearer middleware refuses these before any tool runs
                raise McpToolError("Authentication required.")
            p, scopes = principal_from_token(access), frozenset(access.scopes)
        else:
            p, scopes = Principal.parse(ms.stdio_principal), frozenset(ms.stdio_scopes)
        return scoped_principal(p, scopes), scopes

    def principal() -> Principal:
        return scoped()[0]

    def need(scope: str) -> Principal:
        p, scopes = scoped()
        if scope not in scopes:
            raise McpToolError(f"This token lacks the '{scope}' scope needed for this tool.")
        return p

    async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except ToolError as exc:
            raise McpToolError(exc.message) from exc

    kwargs: dict[str, Any] = {}
    if transport == "http":
        base = f"http://{ms.host}:{ms.port}"
        kwargs = {
            "token_verifier": StaticTokenVerifier(ms),
            "auth": AuthSettings(
                issuer_url=AnyHttpUrl(base),
                resource_server_url=AnyHttpUrl(f"{base}/mcp"),
                required_scopes=None,
            ),
        }
    server: MCPServer[Any] = MCPServer(
        name="libromind",
        title="libromind bookstore",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        lifespan=lifespan,
        **kwargs,
    )

    @server.tool(structured_output=True)
    async def search_documents(query: str, k: int = 5) -> SearchResults:
        """Search the help documents the caller may read; return the best passages with sources."""
        rows = await call(knowledge.search_documents, query, k=max(1, min(k, 20)), principal=principal())
        return SearchResults.model_validate({"results": rows})

    @server.tool(structured_output=True)
    async def ask(message: str, thread: str | None = None) -> AskReply:
        """Ask the bookstore assistant; get a grounded answer with citations (threads keep context)."""
        reply = await state["chat"].ask(principal(), thread, message, channel="mcp")
        return AskReply.model_validate(reply)

    @server.tool(structured_output=True)
    async def browse_catalog(
        query: str | None = None,
        author: str | None = None,
        publisher: str | None = None,
        year_min: int | None = None,
        year_max: int | None = None,
        price_min_cents: int | None = None,
        price_max_cents: int | None = None,
        in_stock: bool | None = None,
        sort: Literal["relevance", "title", "year", "price"] = "relevance",
        page: int = 1,
        page_size: int = 10,
    ) -> BookPage:
        """Browse the book catalog by title words, author, publisher, year, price and availability."""
        res = await call(
            catalog.search_books,
            query,
            author=author,
            publisher=publisher,
            year_min=year_min,
            year_max=year_max,
            price_min_cents=price_min_cents,
            price_max_cents=price_max_cents,
            in_stock=in_stock,
            sort=sort,
            page=page,
            page_size=page_size,
        )
        return BookPage.model_validate({"page": page, "page_size": page_size, **res})

    @server.tool(structured_output=True)
    async def get_book(isbn: str) -> Book:
        """Get one book by ISBN-10 or ISBN-13, with its database price and stock."""
        return Book.model_validate(await call(catalog.get_book, isbn))

    @server.tool(structured_output=True)
    async def recommend(
        isbn: str, kind: Literal["similar", "also_liked"] = "similar", k: int = 5
    ) -> Recommendations:
        """Recommend books similar to a book, or that its readers also liked, each with a reason."""
        items = await call(catalog.recommend, isbn, kind=kind, k=max(1, min(k, 20)))
        return Recommendations.model_validate({"items": items})

    @server.tool(structured_output=True)
    async def quote_order(items: list[OrderLine]) -> Quote:
        """Quote an order (database prices and total) and return the token place_order needs."""
        p = need("orders")
        q = await call(orders.quote_order, [i.model_dump() for i in items], principal=p)
        return Quote.model_validate(q)

    @server.tool(structured_output=True)
    async def place_order(confirmation_token: str) -> Order:
        """Place exactly the quoted order, after the user confirmed it; the same token never orders twice."""
        p = need("orders")
        key = "mcp:" + hashlib.sha256(confirmation_token.encode()).hexdigest()[:32]
        return Order.model_validate(
            await call(orders.place_order, confirmation_token, principal=p, idempotency_key=key)
        )

    @server.tool(structured_output=True)
    async def order_status(order_id: str) -> Order:
        """Get the status of one of the caller's orders."""
        p = need("orders")
        return Order.model_validate(await call(orders.order_status, order_id, principal=p))

    @server.tool(structured_output=True)
    async def submit_feedback(
        answer_id: str, score: Literal[1, -1], comment: str | None = None
    ) -> FeedbackAck:
        """Rate an answer from ask: 1 for helpful, -1 for not helpful (optionally with a comment)."""
        try:
            await state["chat"].feedback(answer_id, principal(), score, channel="mcp", comment=comment)
        except ToolError as exc:
            raise McpToolError(exc.message) from exc
        return FeedbackAck(stored=True, answer_id=answer_id, score=score)

    install_rate_limits(server, settings, transport=transport, stdio_principal=ms.stdio_principal)
    return server
