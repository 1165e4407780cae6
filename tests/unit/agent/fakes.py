"""In-process fakes of the tools (no database): a tiny catalog, orders that count placements, and a
fixed document index with ACLs."""

from __future__ import annotations

import types
import uuid
from dataclasses import dataclass, field
from typing import Any

from memory.index.base import Hit
from memory.principals import Principal
from tools.errors import NotFound

BOOKS = {
    "9780261102217": {
        "isbn": "9780261102217",
        "title": "The Hobbit",
        "author": "J.R.R. Tolkien",
        "year": 1996,
        "publisher": "HarperCollins",
        "price_cents": 1299,
        "stock": 4,
        "demo_price": True,
    },
    "9780441172719": {
        "isbn": "9780441172719",
        "title": "Dune",
        "author": "Frank Herbert",
        "year": 1990,
        "publisher": "Ace",
        "price_cents": 999,
        "stock": 2,
        "demo_price": True,
    },
    "9780385504201": {
        "isbn": "9780385504201",
        "title": "The Da Vinci Code",
        "author": "Dan Brown",
        "year": 2003,
        "publisher": "Doubleday",
        "price_cents": 1499,
        "stock": 0,
        "demo_price": True,
    },
}

DOCS = [
    Hit(
        "c1",
        "d1",
        "policy.html/ch-controlfields.html",
        "Control files",
        "5.6.2 Maintainer",
        None,
        "The package maintainer's name and email address. The name must come first, then the email address "
        "inside angle brackets <> (in RFC822 format). If the maintainer's name contains a full stop then the "
        "whole field will not work directly as an email address.",
        1.0,
        "public",
    ),
    Hit(
        "c2",
        "d1",
        "policy.html/ch-files.html",
        "Files",
        "10.7.2 Configuration files",
        None,
        "Any configuration files created or used by your package must reside in /etc. If there are several, "
        "consider creating a subdirectory of /etc named after your package.",
        1.0,
        "public",
    ),
    Hit(
        "c3",
        "d2",
        "staff-handbook.md",
        "Staff handbook",
        "Employee discount",
        None,
        "Every employee receives a staff discount of 35 percent on books for personal use. The discount does "
        "not apply to gift cards or to special orders from suppliers.",
        1.0,
        "internal",
    ),
    Hit(
        "c4",
        "d3",
        "support-channels.md",
        "Support",
        "Slack",
        None,
        "Customers of our business accounts reach us on Slack. The first response target on Slack is 2 "
        "business hours.",
        1.0,
        "internal",
    ),
    Hit(
        "c5",
        "d3",
        "support-channels.md",
        "Support",
        "Discord",
        None,
        "Our reading community lives on Discord. The first response target on Discord is 4 hours, seven days "
        "a week, because the community is active at weekends.",
        1.0,
        "internal",
    ),
]


def _words(t: str) -> set[str]:
    import re

    return set(re.findall(r"[a-z]{3,}", t.lower()))


async def retrieve(
    queries: list[str], k: int = 10, *, principal: Principal, hyde_text: str | None = None
) -> list[Hit]:
    q = _words(" ".join(queries))
    scored = []
    for h in DOCS:
        if h.acl not in principal.scopes:
            continue
        s = len(q & _words(h.text + " " + h.section))
        if s:
            scored.append(Hit(**{**h.__dict__, "score": float(s)}))
    scored.sort(key=lambda h: h.score, reverse=True)
    return scored[:k]


def make_modules() -> dict[str, types.ModuleType]:
    knowledge = types.ModuleType("tools.knowledge")
    knowledge.retrieve = retrieve  # type: ignore[attr-defined]
    rerank = types.ModuleType("tools.rerank")

    async def _rerank(query: str, hits: list[Hit], k: int = 10) -> list[Hit]:
        return hits[:k]

    rerank.rerank = _rerank  # type: ignore[attr-defined]
    rerank.decisive = lambda hits: len(hits) == 1  # type: ignore[attr-defined]
    expand = types.ModuleType("tools.expand")

    async def _expand(query: str, n: int = 3, *, llm: Any = None, principal: Any = None) -> list[str]:
        return [query, query + " details"]

    async def _hyde(query: str, *, llm: Any = None, principal: Any = None) -> str | None:
        return None

    expand.expand_query = _expand  # type: ignore[attr-defined]
    expand.hyde = _hyde  # type: ignore[attr-defined]
    shop = FakeShop()
    catalog = types.ModuleType("tools.catalog")
    orders = types.ModuleType("tools.orders")
    for name in ("search_books", "get_book", "recommend", "match_books"):
        setattr(catalog, name, getattr(shop, name))
    for name in (
        "add_to_cart",
        "show_cart",
        "quote_order",
        "place_order",
        "order_status",
        "list_orders",
        "cancel_order",
    ):
        setattr(orders, name, getattr(shop, name))
    orders.shop = shop  # type: ignore[attr-defined]
    return {"knowledge": knowledge, "rerank": rerank, "expand": expand, "catalog": catalog, "orders": orders}


@dataclass
class FakeShop:
    placed: list[dict[str, Any]] = field(default_factory=list)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    carts: dict[str, dict[str, int]] = field(default_factory=dict)

    async def search_books(
        self,
        query: str | None = None,
        *,
        author: str | None = None,
        page: int = 1,
        page_size: int = 10,
        **_: Any,
    ) -> dict[str, Any]:
        words = _words(f"{query or ''} {author or ''}")
        items = [b for b in BOOKS.values() if words & _words(b["title"] + " " + b["author"])]
        return {"items": items[:page_size], "total": len(items)}

    async def get_book(self, isbn: str) -> dict[str, Any]:
        if isbn not in BOOKS:
            raise NotFound(f"No book with ISBN {isbn}.")
        return dict(BOOKS[isbn])

    async def recommend(self, isbn: str, kind: str = "similar", k: int = 5) -> list[dict[str, Any]]:
        return [{**b, "reason": "similar readers"} for i, b in BOOKS.items() if i != isbn][:k]

    async def match_books(self, text: str, limit: int = 5) -> list[dict[str, Any]]:
        out = []
        for b in BOOKS.values():
            if b["title"].lower() in text.lower():
                out.append({**b, "match": "title", "match_score": 1.0})
            elif b["author"].split()[-1].lower() in text.lower():
                out.append({**b, "match": "author", "match_score": 0.6})
        return out[:limit]

    async def add_to_cart(self, isbn: str, quantity: int = 1, *, principal: Principal) -> dict[str, Any]:
        cart = self.carts.setdefault(principal.key, {})
        cart[isbn] = cart.get(isbn, 0) + quantity
        return await self.show_cart(principal=principal)

    async def show_cart(self, *, principal: Principal) -> dict[str, Any]:
        cart = self.carts.get(principal.key, {})
        items = [{"isbn": i, "title": BOOKS[i]["title"], "quantity": q} for i, q in cart.items()]
        return {"items": items, "total_cents": sum(BOOKS[i]["price_cents"] * q for i, q in cart.items())}

    async def quote_order(self, items: list[dict[str, Any]] | None = None, *, principal: Principal) -> dict:
        items = items or [{"isbn": i, "quantity": q} for i, q in self.carts.get(principal.key, {}).items()]
        lines = [
            {
                "isbn": it["isbn"],
                "title": BOOKS[it["isbn"]]["title"],
                "quantity": it["quantity"],
                "unit_price_cents": BOOKS[it["isbn"]]["price_cents"],
                "line_total_cents": BOOKS[it["isbn"]]["price_cents"] * it["quantity"],
            }
            for it in items
        ]
        qid = uuid.uuid4().hex
        quote = {
            "quote_id": qid,
            "token": f"tok-{qid}",
            "items": lines,
            "total_cents": sum(x["line_total_cents"] for x in lines),
            "currency": "USD",
            "expires_at": "2099-01-01T00:00:00Z",
            "demo_price": True,
            "principal": principal.key,
        }
        self.quotes[quote["token"]] = quote
        return {k: v for k, v in quote.items() if k != "principal"}

    async def place_order(self, token: str, *, principal: Principal, idempotency_key: str) -> dict[str, Any]:
        quote = self.quotes[token]
        assert quote["principal"] == principal.key
        for o in self.placed:
            if o["key"] == idempotency_key:
                return o["order"]
        order = {
            "id": uuid.uuid4().hex,
            "status": "placed",
            "items": quote["items"],
            "total_cents": quote["total_cents"],
        }
        self.placed.append({"key": idempotency_key, "order": order, "principal": principal.key})
        return order

    async def order_status(self, order_id: str, *, principal: Principal) -> dict[str, Any]:
        for o in self.placed:
            if o["order"]["id"] == order_id and o["principal"] == principal.key:
                return o["order"]
        raise NotFound("No such order.")

    async def list_orders(self, *, principal: Principal) -> dict[str, Any]:
        return {"items": [o["order"] for o in self.placed if o["principal"] == principal.key]}

    async def cancel_order(self, order_id: str, *, principal: Principal) -> dict[str, Any]:
        o = await self.order_status(order_id, principal=principal)
        o["status"] = "cancelled"
        return o
