"""Catalog and order nodes, and the confirmation interrupt.

Order safety: ``order`` only *quotes* (prices and total from the database). ``wait`` raises a LangGraph
interrupt carrying the exact quote; the order is placed only when the run is resumed with the user's own
next message and that message is an explicit yes (``rules.confirmation``). Nothing in documents or tool
output reaches that decision: it is made on the resume value alone.

Capability: a caller whose credential lacks ``orders`` (an MCP token without that scope, see
``agent.context.allows``) is refused by ``order``, ``confirm`` and ``wait`` with a worded reply: no
quote is made, no pending quote is confirmed, no order is placed or shown.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agent.context import AgentContext, allows, principal_of
from agent.policy import rules
from agent.prompts import DECLINED, ORDER_NOT_CONFIRMED
from agent.state import MAX_HISTORY, TURN_RESET, AgentState

__all__ = [
    "catalog",
    "after_catalog",
    "order",
    "after_order",
    "confirm",
    "wait",
    "hit_dict",
    "to_hit",
    "money",
    "order_reply",
    "format_book",
    "after_confirm",
    "ORDERS_NOT_ALLOWED",
]

ORDERS_NOT_ALLOWED = (
    "I can't quote, place or look up orders on this connection: its access token does not have the "
    "'orders' scope. Nothing was ordered. Ask the store's administrator for a token with that scope."
)

_RECOMMEND_RE = re.compile(r"\b(similar|like|also liked|recommend\w*|suggest\w*|more like)\b", re.I)
_ALSO_RE = re.compile(r"\b(also liked|readers who|people who|also enjoyed|also read)\b", re.I)
_BY_RE = re.compile(r"\b(?:by|from author|written by|author)\s+([A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})")
_FILLER_RE = re.compile(
    r"^(please\s+)?(can you\s+|could you\s+)?(show me|find( me)?|search( the catalog)?( for)?|look for|"
    r"i'?m looking for|do you have( any)?|are there( any)?|give me|list|browse( your)?|recommend( me)?|"
    r"suggest( me)?)\s+",
    re.I,
)


def hit_dict(hit: Any) -> dict[str, Any]:
    d = dataclasses.asdict(hit) if dataclasses.is_dataclass(hit) else dict(hit)  # type: ignore[arg-type]
    d["score"] = float(d.get("score") or 0.0)
    d.pop("extra", None)
    return d


def to_hit(d: dict[str, Any]) -> Any:
    from memory.index.base import Hit

    fields = {f.name for f in dataclasses.fields(Hit)}
    return Hit(**{k: v for k, v in d.items() if k in fields})


def money(cents: int | None, currency: str = "USD") -> str:
    cents = int(cents or 0)
    sym = "$" if currency == "USD" else f"{currency} "
    return f"{sym}{cents // 100}.{cents % 100:02d}"


def _steps(state: AgentState, *names: str) -> list[str]:
    return [*(state.get("steps") or []), *names]


def _ctx(runtime: Runtime[AgentContext] | None) -> Any:
    from agent.graph import _ctx as ctx

    return ctx(runtime)


def format_book(b: dict[str, Any], n: int | None = None) -> str:
    head = f"{n}. " if n is not None else ""
    year = f", {b['year']}" if b.get("year") else ""
    price = b.get("price_display") or money(b.get("price_cents"), b.get("currency", "USD")) + (
        " (demo price)" if b.get("demo_price") else ""
    )
    stock = "in stock" if (b.get("stock") or 0) > 0 else "out of stock"
    why = f" — {b['reason']}" if b.get("reason") else ""
    return f"{head}{b.get('title')} by {b.get('author') or 'unknown'}{year} (ISBN {b.get('isbn')}): {price}, {stock}{why}"


def _slim(b: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "isbn",
        "title",
        "author",
        "year",
        "publisher",
        "price_cents",
        "currency",
        "price_display",
        "stock",
        "demo_price",
        "reason",
        "match",
        "match_score",
        "rating_count",
    )
    return {k: b[k] for k in keep if k in b}


async def catalog(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Find books: by ISBN, by a title/author named in the message, recommendations, or search."""
    from tools import catalog as cat
    from tools.errors import ToolError

    route = dict(state.get("route") or {})
    text = state.get("message") or route.get("query", "")
    steps = _steps(state, "catalog")
    isbns = list(route.get("isbns") or [])
    try:
        if route.get("intent") == "order":
            if not isbns:
                matches = await cat.match_books(text, limit=5)
                named = await _named_books(cat, text, matches)
                if named:
                    isbns = [named[0]["isbn"]]
                elif matches:
                    lines = [format_book(b, i) for i, b in enumerate(matches, 1)]
                    route["reason"] = "ambiguous"
                    return {
                        "route": route,
                        "steps": steps,
                        "items": [_slim(b) for b in matches],
                        "answer": "Which of these do you want to order? Reply with its number or ISBN.\n"
                        + "\n".join(lines),
                    }
                else:
                    route["reason"] = "book"
                    return {"route": route, "steps": steps}
            book = await cat.get_book(isbns[0])
            route["isbns"] = [book["isbn"]]
            return {"route": route, "steps": steps, "items": [_slim(book)]}
        # browsing
        if isbns:
            book = await cat.get_book(isbns[0])
            if _RECOMMEND_RE.search(text) and not re.search(r"\b(price|cost|stock)\b", text, re.I):
                kind: Literal["similar", "also_liked"] = "also_liked" if _ALSO_RE.search(text) else "similar"
                recs = await cat.recommend(book["isbn"], kind=kind, k=5)
                items = [_slim(b) for b in recs]
                lead = f"Because you asked about {book['title']}, you might like:"
                return _listing(route, steps, items, lead)
            return _listing(route, steps, [_slim(book)], "Here is that book:")
        matches = await cat.match_books(text, limit=5)
        if matches and _RECOMMEND_RE.search(text):
            kind = "also_liked" if _ALSO_RE.search(text) else "similar"
            recs = await cat.recommend(matches[0]["isbn"], kind=kind, k=5)
            return _listing(
                route,
                steps,
                [_slim(b) for b in recs],
                f"Readers who liked {matches[0]['title']} might also like:",
            )
        named = await _named_books(cat, text, matches)
        if named:
            return _listing(route, steps, [_slim(b) for b in named], "Here is what I found in the catalog:")
        by = _BY_RE.search(text)
        if by and len({m.get("author") for m in matches}) < 2:
            res = await cat.search_books(author=by.group(1), page_size=5)
        elif matches:
            res = {"items": []}
        else:
            q = _FILLER_RE.sub("", route.get("query") or text).strip(" ?.!")
            res = await cat.search_books(q or None, page_size=5)
        items, seen = [], set()
        for b in [*matches, *(res.get("items") or res.get("results") or [])]:
            if b["isbn"] not in seen:
                seen.add(b["isbn"])
                items.append(_slim(b))
        items = items[:5]
        if not items:
            return {
                "route": route,
                "steps": steps,
                "items": [],
                "answer": "I couldn't find matching books in our catalog. Try a title, an author or an ISBN.",
            }
        return _listing(route, steps, items, "Here is what I found in the catalog:")
    except ToolError as exc:
        return {"route": route, "steps": steps, "answer": exc.message, "items": []}


def _title_key(title: str) -> str:
    t = re.split(r"\s*[(\[:]", title.replace("&amp;", "&"))[0]
    return " ".join(re.findall(r"[a-z0-9&']+", t.lower()))


async def _named_books(cat: Any, text: str, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Books whose ISBN or full title the message names (editions of the longest named title first);
    falls back to a catalog search when the matcher found none."""
    said = " " + " ".join(re.findall(r"[a-z0-9&']+", text.lower().replace("&amp;", "&"))) + " "

    def named(pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
        hits = [
            b
            for b in pool
            if b.get("match") == "isbn"
            or (len(_title_key(b.get("title", ""))) >= 3 and f" {_title_key(b.get('title', ''))} " in said)
        ]
        return sorted(
            hits,
            key=lambda b: (
                b.get("match") != "isbn",
                -len(_title_key(b.get("title", ""))),
                -int(b.get("rating_count") or 0),
            ),
        )

    found = named(matches)
    if found or not re.search(r"[A-Za-z]{3}", text):
        return found
    q = _FILLER_RE.sub("", text).strip(" ?.!")
    q = re.sub(
        r"^(i want to |i'?d like to |please |can i )?(buy|order|purchase|get me|add)\s+"
        r"((\d+|one|two|three|four|five|a) (copies|copy) of )?",
        "",
        q,
        flags=re.I,
    )
    q = re.sub(r"\s+(to my (cart|basket)|for me|please)$", "", q, flags=re.I).strip(" ?.!")
    if not q:
        return []
    res = await cat.search_books(q, page_size=10)
    found = named(list(res.get("items") or res.get("results") or []))
    if found:
        best = _title_key(found[0].get("title", ""))
        found = [b for b in found if _title_key(b.get("title", "")) == best]
    return found


def _listing(route: dict, steps: list[str], items: list[dict[str, Any]], lead: str) -> dict[str, Any]:
    if not items:
        return {"route": route, "steps": steps, "items": [], "answer": "I couldn't find matching books."}
    lines = [format_book(b, i) for i, b in enumerate(items, 1)]
    demo = " Prices and stock are demo values." if any(b.get("demo_price") for b in items) else ""
    return {"route": route, "steps": steps, "items": items, "answer": f"{lead}\n" + "\n".join(lines) + demo}


def after_catalog(state: AgentState) -> str:
    route = state.get("route") or {}
    if route.get("intent") == "order":
        if route.get("reason") in ("ambiguous", "book"):
            return "clarify"
        if state.get("items"):
            return "order"
    return "answer"


def order_reply(o: dict[str, Any]) -> dict[str, Any]:
    """The DESIGN.md ``order`` shape (+ cents and currency)."""
    total = o.get("total_cents", o.get("total"))
    return {
        "id": _order_id(o),
        "status": o.get("status"),
        "items": o.get("items") or [],
        "total": total,
        "total_cents": total,
        "currency": o.get("currency", "USD"),
    }


def _order_id(o: dict[str, Any]) -> Any:
    """The order's id: tools return ``order_id`` (DESIGN.md), replies carry ``id``."""
    return o.get("order_id") or o.get("id")


def _quote_text(q: dict[str, Any]) -> str:
    cur = q.get("currency", "USD")
    lines = [
        f"- {it.get('quantity')} x {it.get('title')} (ISBN {it.get('isbn')}) at "
        f"{money(it.get('unit_price_cents'), cur)} = {money(it.get('line_total_cents'), cur)}"
        for it in q.get("items") or []
    ]
    demo = " (demo prices)" if q.get("demo_price") else ""
    return (
        "Please confirm this order:\n"
        + "\n".join(lines)
        + f"\nTotal: {money(q.get('total_cents'), cur)}{demo}."
        "\nReply 'yes' to place it, or 'no' to cancel. Nothing is ordered until you confirm."
    )


async def order(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Quote an order (prices from the database), or cart / status / cancel for the principal."""
    from tools import orders
    from tools.errors import ToolError

    route = dict(state.get("route") or {})
    ctx = _ctx(runtime)
    principal = principal_of(ctx)
    steps = _steps(state, "order")
    if not allows(ctx, "orders"):
        route.pop("reason", None)
        return {"steps": steps, "route": route, "answer": ORDERS_NOT_ALLOWED, "quote": None, "order": None}
    action = route.get("action") or "status"
    try:
        if action in ("quote", "checkout"):
            items = None
            if action == "quote":
                qty = max(1, min(int(route.get("quantity") or 1), 99))
                items = [{"isbn": route["isbns"][0], "quantity": qty}]
            quote = await orders.quote_order(items, principal=principal)
            return {"steps": steps, "quote": quote, "route": route}
        if action == "add":
            qty = max(1, min(int(route.get("quantity") or 1), 99))
            await orders.add_to_cart(route["isbns"][0], qty, principal=principal)
            cart = await orders.show_cart(principal=principal)
            return {
                "steps": steps,
                "answer": _cart_text(cart, f"Added {qty} x {state['items'][0]['title']} to your cart."),
            }
        if action == "cart":
            return {"steps": steps, "answer": _cart_text(await orders.show_cart(principal=principal), "")}
        oid = route.get("order_id") or (state.get("memo") or {}).get("last_order_id")
        if action == "cancel":
            if not oid:
                route["reason"] = "order_id"
                return {"steps": steps, "route": route}
            o = await orders.cancel_order(oid, principal=principal)
            return {
                "steps": steps,
                "order": order_reply(o),
                "answer": f"Order {_order_id(o)} is now {o.get('status')}.",
            }
        if oid:
            o = await orders.order_status(oid, principal=principal)
            return {
                "steps": steps,
                "order": order_reply(o),
                "answer": f"Order {_order_id(o)} is {o.get('status')} (total "
                f"{money(o.get('total_cents'), o.get('currency', 'USD'))}).",
            }
        listed = await orders.list_orders(principal=principal)
        rows = listed.get("items", listed.get("orders", [])) if isinstance(listed, dict) else listed
        if not rows:
            return {"steps": steps, "answer": "You have no orders yet."}
        lines = [
            f"- {_order_id(o)}: {o.get('status')}, {money(o.get('total_cents'), o.get('currency', 'USD'))}"
            for o in rows[:10]
        ]
        return {"steps": steps, "answer": "Your orders:\n" + "\n".join(lines)}
    except ToolError as exc:
        return {"steps": steps, "answer": exc.message, "quote": None}


def _cart_text(cart: dict[str, Any], lead: str) -> str:
    items = cart.get("items") or []
    if not items:
        return (lead + " " if lead else "") + "Your cart is empty."
    cur = cart.get("currency", "USD")
    lines = [f"- {it.get('quantity')} x {it.get('title')} (ISBN {it.get('isbn')})" for it in items]
    total = cart.get("total_cents", cart.get("subtotal_cents"))
    tail = f"\nSubtotal: {money(total, cur)}." if total is not None else ""
    return (lead + "\n" if lead else "") + "Your cart:\n" + "\n".join(lines) + tail


def after_order(state: AgentState) -> str:
    route = state.get("route") or {}
    if route.get("reason") == "order_id":
        return "clarify"
    return "confirm" if state.get("quote") else "answer"


async def confirm(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Show the exact items, database prices and total; ask for an explicit yes."""
    if not allows(_ctx(runtime), "orders"):
        return {"steps": _steps(state, "confirm"), "answer": ORDERS_NOT_ALLOWED, "quote": None}
    return {"steps": _steps(state, "confirm"), "answer": _quote_text(state.get("quote") or {})}


def after_confirm(state: AgentState) -> str:
    """Wait for the user's yes only when a quote is shown (a refused caller never gets one)."""
    return "wait" if state.get("quote") else "answer"


async def wait(state: AgentState, runtime: Runtime[AgentContext]) -> Command:
    """Pause the run (interrupt) until the user's next message; place the order only on an explicit yes."""
    quote: dict[str, Any] = state.get("quote") or {}
    resume = interrupt({"type": "confirm", "quote": quote, "message": state.get("answer", "")})
    text = str(resume.get("message", "") if isinstance(resume, dict) else resume or "").strip()
    messages = [
        *(state.get("messages") or []),
        {"role": "assistant", "content": state.get("answer", "")[:600]},
        {"role": "user", "content": text},
    ][-MAX_HISTORY:]
    base = {**TURN_RESET, "message": text, "messages": messages, "quote": None}
    decision = rules.confirmation(text)
    if decision == "yes" and not allows(_ctx(runtime), "orders"):
        # e.g. a quote made with an ``orders`` token, confirmed over one without that scope
        return Command(
            goto="answer", update={**base, "steps": ["confirm"], "answer": ORDERS_NOT_ALLOWED, "order": None}
        )
    if decision == "yes":
        from tools import orders
        from tools.errors import ToolError

        principal = principal_of(_ctx(runtime))
        try:
            placed = await orders.place_order(
                quote["token"], principal=principal, idempotency_key=f"quote:{quote['quote_id']}"
            )
        except ToolError as exc:
            return Command(
                goto="answer",
                update={
                    **base,
                    "steps": ["confirm", "order"],
                    "answer": f"The order was not placed: {exc.message}",
                },
            )
        reply = order_reply({**placed, "currency": quote.get("currency", "USD")})
        text_out = (
            f"Your order {reply['id']} is {reply['status']}. Total: "
            f"{money(reply['total'], reply['currency'])}"
            + (" (demo prices)." if quote.get("demo_price") else ".")
        )
        return Command(
            goto="answer", update={**base, "steps": ["confirm", "order"], "order": reply, "answer": text_out}
        )
    if decision == "no":
        return Command(goto="answer", update={**base, "steps": ["confirm"], "answer": DECLINED})
    # anything else is a new request: the quote lapses and the message is handled normally
    return Command(goto="understand", update={**base, "steps": ["confirm"], "notices": [ORDER_NOT_CONFIRMED]})
