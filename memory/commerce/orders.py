"""Carts, quotes and orders (SQL). Prices and stock come from the database only; money is integer cents.

Integrity:
- a quote's token is HMAC-SHA256-signed over (quote id, principal, items, prices, total, expiry) and its
  hash is stored server-side; ``place_order`` accepts only an untampered, unexpired, unused quote;
- stock is locked (``SELECT ... FOR UPDATE`` in ISBN order, so no deadlocks) and decremented in the
  same transaction that inserts the order; a price that changed since the quote refuses the order;
- the order row is inserted first with ``ON CONFLICT (principal, idempotency_key) DO NOTHING``: a
  concurrent retry waits for the first transaction, then replays its order (same payload) or gets a
  conflict (different payload); one key never creates two orders;
- order ids are random (``ord_`` + 96 random bits); reading another principal's order is "not found".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memory.commerce import CURRENCY, BadRequest, Clash, Denied, Missing
from memory.commerce.catalog import format_cents, normalize_isbn

__all__ = [
    "Limits",
    "add_to_cart",
    "cancel_order",
    "get_order",
    "list_orders",
    "place_order",
    "quote",
    "remove_from_cart",
    "set_status",
    "show_cart",
    "sign_token",
    "verify_token",
]

_KEY_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")


@dataclass(frozen=True)
class Limits:
    """Order limits (env: LIBROMIND_ORDER_MAX_QTY, LIBROMIND_ORDER_MAX_LINES, LIBROMIND_QUOTE_TTL_S)."""

    max_qty: int = 20
    max_lines: int = 50
    quote_ttl_s: int = 15 * 60

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_qty=int(os.environ.get("LIBROMIND_ORDER_MAX_QTY", 20)),
            max_lines=int(os.environ.get("LIBROMIND_ORDER_MAX_LINES", 50)),
            quote_ttl_s=int(os.environ.get("LIBROMIND_QUOTE_TTL_S", 15 * 60)),
        )


def _qty(value: Any, limits: Limits) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value.strip())
            else:
                raise ValueError
        except ValueError:
            raise BadRequest(
                f"Quantity must be a whole number, not {str(value)[:20]!r}.", code="bad_quantity"
            ) from None
    if value < 1:
        raise BadRequest("Quantity must be at least 1.", code="bad_quantity")
    if value > limits.max_qty:
        raise BadRequest(
            f"At most {limits.max_qty} copies of a book per order (asked for {value}).", code="bad_quantity"
        )
    return int(value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    key = hashlib.sha256(b"libromind-quote-v1|" + secret.encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).digest()


def sign_token(secret: str, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"q1.{_b64(body)}.{_b64(_mac(secret, body))}"


def verify_token(secret: str, token: str) -> dict[str, Any]:
    """The token's payload, or BadRequest when it is malformed or its signature does not match."""
    bad = BadRequest(
        "The confirmation token is invalid or was altered; ask for a new quote.", code="bad_token"
    )
    if not isinstance(token, str) or len(token) > 8000:
        raise bad
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != "q1":
        raise bad
    try:
        body, sig = _unb64(parts[1]), _unb64(parts[2])
    except (ValueError, TypeError):
        raise bad from None
    if not hmac.compare_digest(sig, _mac(secret, body)):
        raise bad
    try:
        payload = json.loads(body)
    except ValueError:
        raise bad from None
    if not isinstance(payload, dict) or not {"q", "p", "i", "t", "e"} <= payload.keys():
        raise bad
    return payload


def _iso(ts: float | datetime) -> str:
    if isinstance(ts, datetime):
        return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- cart


async def add_to_cart(db: Any, principal: str, isbn: str, quantity: Any, limits: Limits) -> dict[str, Any]:
    qty = _qty(quantity, limits)
    isbn13 = normalize_isbn(isbn)
    async with db.pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT title, stock FROM books WHERE isbn13 = %s", (isbn13,))
        book = await cur.fetchone()
        if book is None:
            raise Missing(f"No book with ISBN {isbn} in the catalog.", code="unknown_isbn")
        await conn.execute(
            "INSERT INTO carts (principal) VALUES (%s) ON CONFLICT (principal) DO UPDATE SET updated_at = now()",
            (principal,),
        )
        cur = await conn.execute(
            "SELECT quantity FROM cart_items WHERE principal = %s AND isbn13 = %s FOR UPDATE",
            (principal, isbn13),
        )
        have = await cur.fetchone()
        new_qty = qty + (int(have["quantity"]) if have else 0)
        if new_qty > limits.max_qty:
            raise BadRequest(
                f"At most {limits.max_qty} copies of a book per order; your cart would hold "
                f"{new_qty} of “{book['title']}”.",
                code="bad_quantity",
            )
        if new_qty > int(book["stock"]):
            raise Clash(
                f"Only {book['stock']} copies of “{book['title']}” are in stock."
                if book["stock"]
                else f"“{book['title']}” is out of stock.",
                code="out_of_stock",
            )
        await conn.execute(
            "INSERT INTO cart_items (principal, isbn13, quantity) VALUES (%s, %s, %s)"
            " ON CONFLICT (principal, isbn13) DO UPDATE SET quantity = excluded.quantity",
            (principal, isbn13, new_qty),
        )
    return await show_cart(db, principal)


async def remove_from_cart(db: Any, principal: str, isbn: str) -> dict[str, Any]:
    isbn13 = normalize_isbn(isbn)
    rows = await db.fetch(
        "DELETE FROM cart_items WHERE principal = %s AND isbn13 = %s RETURNING isbn13", principal, isbn13
    )
    if not rows:
        raise Missing(f"ISBN {isbn} is not in your cart.", code="not_in_cart")
    return await show_cart(db, principal)


async def show_cart(db: Any, principal: str) -> dict[str, Any]:
    rows = await db.fetch(
        "SELECT c.isbn13, c.quantity, b.title, b.author, b.price_cents, b.stock, b.demo"
        " FROM cart_items c JOIN books b ON b.isbn13 = c.isbn13"
        " WHERE c.principal = %s ORDER BY c.added_at, c.isbn13",
        principal,
    )
    items = [
        {
            "isbn": r["isbn13"],
            "title": r["title"],
            "author": r["author"],
            "quantity": int(r["quantity"]),
            "unit_price_cents": int(r["price_cents"]),
            "line_total_cents": int(r["price_cents"]) * int(r["quantity"]),
            "in_stock": int(r["stock"]) >= int(r["quantity"]),
            "demo_price": bool(r["demo"]),
        }
        for r in rows
    ]
    total = sum(i["line_total_cents"] for i in items)
    return {
        "items": items,
        "total_cents": total,
        "total_display": format_cents(total),
        "currency": CURRENCY,
        "demo_price": any(i["demo_price"] for i in items),
        "note": "Prices shown are current; ask for a quote to fix them before ordering.",
    }


# ---------------------------------------------------------------- quote


async def quote(
    db: Any, secret: str, principal: str, items: list[dict[str, Any]] | None, limits: Limits
) -> dict[str, Any]:
    from_cart = items is None
    if items is None:
        cart = await db.fetch("SELECT isbn13, quantity FROM cart_items WHERE principal = %s", principal)
        if not cart:
            raise BadRequest(
                "Your cart is empty: add books first or list the items to quote.", code="empty_cart"
            )
        wanted = [(r["isbn13"], int(r["quantity"])) for r in cart]
    else:
        if not isinstance(items, list) or not items:
            raise BadRequest('Give at least one item: [{"isbn": ..., "quantity": ...}].', code="empty_order")
        wanted = []
        for it in items:
            if not isinstance(it, dict) or "isbn" not in it:
                raise BadRequest('Each item needs an "isbn" and a "quantity".', code="bad_item")
            wanted.append((normalize_isbn(it["isbn"]), _qty(it.get("quantity", 1), limits)))
    merged: dict[str, int] = {}
    for isbn13, q in wanted:
        merged[isbn13] = merged.get(isbn13, 0) + q
    if len(merged) > limits.max_lines:
        raise BadRequest(f"At most {limits.max_lines} different books per order.", code="too_many_lines")
    for q in merged.values():
        _qty(q, limits)
    books = {
        r["isbn13"]: r
        for r in await db.fetch(
            "SELECT isbn13, title, author, price_cents, currency, stock, demo FROM books WHERE isbn13 = ANY(%s)",
            list(merged),
        )
    }
    lines = []
    for isbn13, q in merged.items():
        b = books.get(isbn13)
        if b is None:
            raise Missing(f"No book with ISBN {isbn13} in the catalog.", code="unknown_isbn")
        if int(b["stock"]) < q:
            raise Clash(
                f"Only {b['stock']} copies of “{b['title']}” are in stock (you asked for {q})."
                if b["stock"]
                else f"“{b['title']}” is out of stock.",
                code="out_of_stock",
            )
        lines.append((isbn13, q, int(b["price_cents"])))
    lines.sort()
    total = sum(q * p for _, q, p in lines)
    quote_id = "q_" + secrets.token_urlsafe(12)
    expires = int(time.time()) + limits.quote_ttl_s
    payload = {
        "q": quote_id,
        "p": principal,
        "i": [list(x) for x in lines],
        "t": total,
        "c": CURRENCY,
        "e": expires,
    }
    token = sign_token(secret, payload)
    await db.execute(
        "INSERT INTO quotes (id, principal, items, total_cents, currency, from_cart, token_hash, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, to_timestamp(%s))",
        quote_id,
        principal,
        json.dumps(payload["i"]),
        total,
        CURRENCY,
        from_cart,
        hashlib.sha256(token.encode()).hexdigest(),
        expires,
    )
    demo = any(books[i]["demo"] for i, _, _ in lines)
    return {
        "quote_id": quote_id,
        "token": token,
        "items": [
            {
                "isbn": i,
                "title": books[i]["title"],
                "author": books[i]["author"],
                "quantity": q,
                "unit_price_cents": p,
                "line_total_cents": q * p,
            }
            for i, q, p in lines
        ],
        "total_cents": total,
        "total_display": format_cents(total),
        "currency": CURRENCY,
        "expires_at": _iso(expires),
        "demo_price": demo,
        "note": "Confirm with place_order(token) before the quote expires; stock is not reserved.",
    }


# ---------------------------------------------------------------- orders


def _order_dict(
    order: dict[str, Any], items: list[dict[str, Any]], *, replayed: bool = False
) -> dict[str, Any]:
    out = {
        "order_id": order["id"],
        "status": order["status"],
        "items": [
            {
                "isbn": i["isbn13"],
                "title": i["title"],
                "author": i["author"],
                "quantity": int(i["quantity"]),
                "unit_price_cents": int(i["unit_price_cents"]),
                "line_total_cents": int(i["line_total_cents"]),
            }
            for i in items
        ],
        "total_cents": int(order["total_cents"]),
        "total_display": format_cents(int(order["total_cents"]), order["currency"]),
        "currency": order["currency"],
        "demo_price": bool(order["demo_price"]),
        "created_at": _iso(order["created_at"]),
        "cancellable": order["status"] == "placed",
    }
    if replayed:
        out["replayed"] = True
    return out


async def _load(conn: Any, order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    cur = await conn.execute("SELECT * FROM orders WHERE id = %s", (order_id,))
    order = await cur.fetchone()
    if order is None:
        return None
    cur = await conn.execute("SELECT * FROM order_items WHERE order_id = %s ORDER BY line", (order_id,))
    return order, await cur.fetchall()


async def place_order(
    db: Any, secret: str, principal: str, token: str, idempotency_key: str
) -> dict[str, Any]:
    key = (idempotency_key or "").strip() if isinstance(idempotency_key, str) else ""
    if not key or len(key) > 200 or not set(key) <= _KEY_CHARS:
        raise BadRequest(
            "An idempotency key of 1-200 characters (letters, digits, - _ . :) is required.",
            code="bad_idempotency_key",
        )
    payload = verify_token(secret, token)
    if payload["p"] != principal:
        raise BadRequest(
            "This confirmation token was issued to someone else; ask for a new quote.", code="bad_token"
        )
    request_hash = hashlib.sha256(token.encode()).hexdigest()
    order_id = "ord_" + secrets.token_urlsafe(12)
    async with db.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO orders (id, principal, status, total_cents, currency, demo_price, quote_id,"
            " idempotency_key, request_hash)"
            " SELECT %s, %s, 'placed', q.total_cents, q.currency, false, q.id, %s, %s FROM quotes q"
            " WHERE q.id = %s AND q.principal = %s AND q.token_hash = %s"
            " ON CONFLICT (principal, idempotency_key) DO NOTHING RETURNING id",
            (order_id, principal, key, request_hash, payload["q"], principal, request_hash),
        )
        if await cur.fetchone() is None:
            cur = await conn.execute(
                "SELECT id, request_hash FROM orders WHERE principal = %s AND idempotency_key = %s",
                (principal, key),
            )
            existing = await cur.fetchone()
            if existing is None:
                raise BadRequest(
                    "This confirmation token does not match a quote; ask for a new quote.", code="bad_token"
                )
            if existing["request_hash"] != request_hash:
                raise Clash(
                    "This idempotency key was already used for a different order; use a new key "
                    "for a new order.",
                    code="idempotency_key_reused",
                )
            loaded = await _load(conn, existing["id"])
            assert loaded is not None
            return _order_dict(*loaded, replayed=True)
        if payload["e"] < time.time():
            raise Clash(
                f"This quote expired at {_iso(payload['e'])}; ask for a new quote.", code="quote_expired"
            )
        cur = await conn.execute(
            "UPDATE quotes SET order_id = %s WHERE id = %s AND order_id IS NULL RETURNING from_cart",
            (order_id, payload["q"]),
        )
        q = await cur.fetchone()
        if q is None:
            raise Clash(
                "This quote was already used for another order; ask for a new quote.", code="quote_used"
            )
        lines = [(str(i), int(n), int(p)) for i, n, p in payload["i"]]
        cur = await conn.execute(
            "SELECT isbn13, title, author, price_cents, stock, demo FROM books WHERE isbn13 = ANY(%s)"
            " ORDER BY isbn13 FOR UPDATE",
            ([i for i, _, _ in lines],),
        )
        books = {r["isbn13"]: r for r in await cur.fetchall()}
        changed, short = [], []
        for isbn13, n, price in lines:
            b = books.get(isbn13)
            if b is None:
                raise Clash(f"ISBN {isbn13} is no longer sold; ask for a new quote.", code="unavailable")
            if int(b["price_cents"]) != price:
                changed.append(
                    f"“{b['title']}” was {format_cents(price)}, now {format_cents(int(b['price_cents']))}"
                )
            if int(b["stock"]) < n:
                short.append(
                    f"only {b['stock']} of “{b['title']}” left (you asked for {n})"
                    if b["stock"]
                    else f"“{b['title']}” sold out"
                )
        if changed:
            raise Clash(
                "Prices changed since your quote: "
                + "; ".join(changed)
                + ". Please review a new quote and confirm again.",
                code="price_changed",
            )
        if short:
            raise Clash("Not enough stock: " + "; ".join(short) + ".", code="out_of_stock")
        for isbn13, n, _ in lines:
            cur = await conn.execute(
                "UPDATE books SET stock = stock - %s WHERE isbn13 = %s AND stock >= %s", (n, isbn13, n)
            )
            if cur.rowcount != 1:  # cannot happen under the row lock; refuse rather than oversell
                raise Clash("Not enough stock; please try again.", code="out_of_stock")
        async with conn.cursor() as c2:
            await c2.executemany(
                "INSERT INTO order_items (order_id, line, isbn13, title, author, quantity, unit_price_cents,"
                " line_total_cents) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (order_id, k + 1, i, books[i]["title"], books[i]["author"], n, p, n * p)
                    for k, (i, n, p) in enumerate(lines)
                ],
            )
        demo = any(books[i]["demo"] for i, _, _ in lines)
        await conn.execute("UPDATE orders SET demo_price = %s WHERE id = %s", (demo, order_id))
        if q["from_cart"]:
            await conn.execute(
                "DELETE FROM cart_items WHERE principal = %s AND isbn13 = ANY(%s)",
                (principal, [i for i, _, _ in lines]),
            )
        loaded = await _load(conn, order_id)
    assert loaded is not None
    return _order_dict(*loaded)


def _visible(order: dict[str, Any] | None, principal: str, staff: bool) -> bool:
    return order is not None and (staff or order["principal"] == principal)


async def get_order(db: Any, principal: str, order_id: str, *, staff: bool = False) -> dict[str, Any]:
    async with db.pool.connection() as conn:
        loaded = await _load(conn, str(order_id)[:100])
    if loaded is None or not _visible(loaded[0], principal, staff):
        raise Missing(f"No order {str(order_id)[:100]} found.", code="order_not_found")
    out = _order_dict(*loaded)
    if staff:
        out["customer"] = loaded[0]["principal"]
    return out


async def list_orders(db: Any, principal: str, *, limit: int = 50) -> list[dict[str, Any]]:
    orders = await db.fetch(
        "SELECT * FROM orders WHERE principal = %s ORDER BY created_at DESC LIMIT %s", principal, int(limit)
    )
    if not orders:
        return []
    items = await db.fetch(
        "SELECT * FROM order_items WHERE order_id = ANY(%s) ORDER BY order_id, line",
        [o["id"] for o in orders],
    )
    by: dict[str, list[dict[str, Any]]] = {}
    for i in items:
        by.setdefault(i["order_id"], []).append(i)
    return [_order_dict(o, by.get(o["id"], [])) for o in orders]


async def cancel_order(db: Any, principal: str, order_id: str, *, staff: bool = False) -> dict[str, Any]:
    async with db.pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT * FROM orders WHERE id = %s FOR UPDATE", (str(order_id)[:100],))
        order = await cur.fetchone()
        if not _visible(order, principal, staff):
            raise Missing(f"No order {str(order_id)[:100]} found.", code="order_not_found")
        assert order is not None
        if order["status"] == "cancelled":
            loaded = await _load(conn, order["id"])
            assert loaded is not None
            return _order_dict(*loaded)
        if order["status"] != "placed":
            raise Clash(
                f"Order {order['id']} has already {order['status']} and can no longer be cancelled.",
                code="not_cancellable",
            )
        cur = await conn.execute(
            "SELECT isbn13, quantity FROM order_items WHERE order_id = %s ORDER BY isbn13", (order["id"],)
        )
        for it in await cur.fetchall():
            await conn.execute(
                "UPDATE books SET stock = stock + %s WHERE isbn13 = %s", (it["quantity"], it["isbn13"])
            )
        await conn.execute(
            "UPDATE orders SET status = 'cancelled', cancelled_at = now(), updated_at = now() WHERE id = %s",
            (order["id"],),
        )
        loaded = await _load(conn, order["id"])
    assert loaded is not None
    return _order_dict(*loaded)


async def set_status(db: Any, order_id: str, status: str, *, staff: bool) -> None:
    """Move an order along (shipping is a back-office action: staff only)."""
    if not staff:
        raise Denied("Only staff with the orders role can change an order's status.")
    if status not in ("shipped", "delivered"):
        raise BadRequest("status must be shipped or delivered (use cancel_order to cancel).")
    col = ", shipped_at = now()" if status == "shipped" else ""
    rows = await db.fetch(
        f"UPDATE orders SET status = %s, updated_at = now(){col} WHERE id = %s AND status <> 'cancelled'"
        " RETURNING id",
        status,
        order_id,
    )
    if not rows:
        raise Missing(f"No open order {order_id} found.", code="order_not_found")
