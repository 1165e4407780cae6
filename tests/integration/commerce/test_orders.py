"""Cart, quote and order integrity against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from memory.commerce.orders import set_status, sign_token, verify_token
from memory.principals import ANONYMOUS, Principal
from memory.secrets import session_secret
from tools import orders as o
from tools.errors import Conflict, Forbidden, InvalidInput, NotFound


async def _stock(shop: dict[str, Any], key: str) -> int:
    row = await shop["deps"].db.fetchrow("SELECT stock FROM books WHERE isbn13 = %s", shop["isbn"][key])
    return int(row["stock"])


async def test_cart_quote_place_flow(shop: dict[str, Any], alice: Principal) -> None:
    isbn = shop["isbn"]
    cart = await o.add_to_cart("0-19-515344-8", 2, principal=alice)
    cart = await o.add_to_cart(isbn["flu"], principal=alice)
    assert [i["quantity"] for i in cart["items"]] == [2, 1]
    assert cart["total_cents"] == 2 * 1299 + 2000 and isinstance(cart["total_cents"], int)
    cart = await o.remove_from_cart(isbn["flu"], principal=alice)
    assert len(cart["items"]) == 1
    q = await o.quote_order(principal=alice)
    assert q["total_cents"] == 2598 and q["items"][0]["unit_price_cents"] == 1299
    assert q["items"][0]["line_total_cents"] == 2598 and q["currency"] == "USD"
    assert q["demo_price"] is False and q["expires_at"].endswith("Z") and q["token"].startswith("q1.")
    order = await o.place_order(q["token"], principal=alice, idempotency_key="k-1")
    assert order["status"] == "placed" and order["total_cents"] == 2598
    assert order["order_id"].startswith("ord_") and len(order["order_id"]) >= 16
    assert await _stock(shop, "mythology") == 3
    assert (await o.show_cart(principal=alice))["items"] == [], "ordered cart items are removed"
    assert (await o.order_status(order["order_id"], principal=alice))["order_id"] == order["order_id"]
    assert [x["order_id"] for x in await o.list_orders(principal=alice)] == [order["order_id"]]


async def test_fifty_concurrent_buyers_of_the_last_copy(shop: dict[str, Any]) -> None:
    buyers = [Principal.parse(f"customer:buyer{i}") for i in range(50)]
    quotes = [
        await o.quote_order([{"isbn": shop["isbn"]["clara"], "quantity": 1}], principal=p) for p in buyers
    ]

    async def buy(p: Principal, q: dict[str, Any]) -> Any:
        try:
            return await o.place_order(q["token"], principal=p, idempotency_key=f"buy-{p.id}")
        except Conflict as exc:
            return exc

    results = await asyncio.gather(*(buy(p, q) for p, q in zip(buyers, quotes, strict=True)))
    placed = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(placed) == 1 and len(refused) == 49
    assert all(r.code == "out_of_stock" for r in refused)
    assert await _stock(shop, "clara") == 0
    row = await shop["deps"].db.fetchrow("SELECT count(*) AS n FROM orders")
    assert row["n"] == 1


async def test_thousand_retries_with_one_key_make_one_order(shop: dict[str, Any], alice: Principal) -> None:
    q = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 2}], principal=alice)
    gate = asyncio.Semaphore(25)  # bursts of concurrent retries, more than the pool's 10 connections

    async def retry() -> dict[str, Any]:
        async with gate:
            return await o.place_order(q["token"], principal=alice, idempotency_key="retry-key")

    results = await asyncio.gather(*(retry() for _ in range(1000)))
    assert len({r["order_id"] for r in results}) == 1
    assert sum(1 for r in results if not r.get("replayed")) == 1
    row = await shop["deps"].db.fetchrow(
        "SELECT count(*) AS n FROM orders WHERE principal = 'customer:alice'"
    )
    assert row["n"] == 1
    assert await _stock(shop, "flu") == 98


async def test_same_key_different_payload_conflicts(shop: dict[str, Any], alice: Principal) -> None:
    q1 = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    q2 = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 2}], principal=alice)
    await o.place_order(q1["token"], principal=alice, idempotency_key="same")
    with pytest.raises(Conflict, match="already used for a different order") as exc:
        await o.place_order(q2["token"], principal=alice, idempotency_key="same")
    assert exc.value.code == "idempotency_key_reused"
    with pytest.raises(Conflict, match="already used"):  # a quote is single-use
        await o.place_order(q1["token"], principal=alice, idempotency_key="other")


async def test_other_customers_order_is_not_found(
    shop: dict[str, Any], alice: Principal, bob: Principal
) -> None:
    q = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    order = await o.place_order(q["token"], principal=alice, idempotency_key="a1")
    for call in (o.order_status, o.cancel_order):
        with pytest.raises(NotFound):
            await call(order["order_id"], principal=bob)
    with pytest.raises(NotFound):
        await o.order_status("ord_doesnotexist000", principal=alice)
    assert await o.list_orders(principal=bob) == []
    # bob cannot use alice's token either
    q2 = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    with pytest.raises(InvalidInput, match="someone else"):
        await o.place_order(q2["token"], principal=bob, idempotency_key="b1")
    staff = Principal.parse("employee:carol:orders")
    seen = await o.order_status(order["order_id"], principal=staff)
    assert seen["customer"] == "customer:alice"
    assert [x["order_id"] for x in await o.list_orders(principal=staff, customer="customer:alice")] == [
        order["order_id"]
    ]
    with pytest.raises(NotFound):
        await o.order_status(order["order_id"], principal=Principal.parse("employee:dave:support"))
    with pytest.raises(Forbidden):
        await o.list_orders(principal=bob, customer="customer:alice")


@pytest.mark.parametrize("qty", [0, -1, 21, 10**12, 2.5, "lots"])
async def test_bad_quantities_are_refused(shop: dict[str, Any], alice: Principal, qty: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        await o.add_to_cart(shop["isbn"]["flu"], qty, principal=alice)
    assert exc.value.code == "bad_quantity" and exc.value.message
    with pytest.raises(InvalidInput):
        await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": qty}], principal=alice)


async def test_unknown_isbn_and_stock_are_refused(shop: dict[str, Any], alice: Principal) -> None:
    with pytest.raises(NotFound, match="No book with ISBN"):
        await o.add_to_cart("0306406152", 1, principal=alice)
    with pytest.raises(InvalidInput, match="check digit"):
        await o.add_to_cart("0306406153", 1, principal=alice)
    with pytest.raises(Conflict, match="out of stock"):
        await o.add_to_cart(shop["isbn"]["normandy"], 1, principal=alice)
    with pytest.raises(Conflict, match="Only 3 copies"):
        await o.quote_order([{"isbn": shop["isbn"]["mummies"], "quantity": 4}], principal=alice)
    with pytest.raises(InvalidInput, match="cart is empty"):
        await o.quote_order(principal=alice)
    with pytest.raises(InvalidInput, match="At most 20"):  # merged lines count too
        await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 15}] * 2, principal=alice)


async def test_tampered_token_is_refused(shop: dict[str, Any], alice: Principal) -> None:
    secret = session_secret(shop["deps"].settings)
    q = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    payload = verify_token(secret, q["token"])
    cheaper = {**payload, "i": [[shop["isbn"]["flu"], 1, 1]], "t": 1}
    forged = (
        q["token"].rsplit(".", 1)[0].split(".")[0]
        + "."
        + sign_token(secret, cheaper).split(".")[1]
        + "."
        + q["token"].rsplit(".", 1)[1]
    )
    for bad in (forged, q["token"][:-3] + "abc", "q1.e30.AAAA", ""):
        with pytest.raises(InvalidInput):
            await o.place_order(bad, principal=alice, idempotency_key="t1")
    # even a correctly signed token must match the stored quote
    resigned = sign_token(secret, cheaper)
    with pytest.raises(InvalidInput, match="does not match a quote"):
        await o.place_order(resigned, principal=alice, idempotency_key="t2")
    assert await _stock(shop, "flu") == 100


async def test_price_change_requires_reconfirmation(shop: dict[str, Any], alice: Principal) -> None:
    q = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    await shop["deps"].db.execute(
        "UPDATE books SET price_cents = 2500 WHERE isbn13 = %s", shop["isbn"]["flu"]
    )
    with pytest.raises(Conflict, match=r"was \$20.00, now \$25.00.*confirm again") as exc:
        await o.place_order(q["token"], principal=alice, idempotency_key="p1")
    assert exc.value.code == "price_changed"
    assert await _stock(shop, "flu") == 100
    q2 = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    order = await o.place_order(q2["token"], principal=alice, idempotency_key="p1")
    assert order["total_cents"] == 2500


async def test_expired_quote_is_refused(
    shop: dict[str, Any], alice: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIBROMIND_QUOTE_TTL_S", "-1")
    q = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    with pytest.raises(Conflict, match="expired") as exc:
        await o.place_order(q["token"], principal=alice, idempotency_key="e1")
    assert exc.value.code == "quote_expired"


async def test_cancel_until_shipped(shop: dict[str, Any], alice: Principal) -> None:
    db = shop["deps"].db
    q = await o.quote_order([{"isbn": shop["isbn"]["mummies"], "quantity": 2}], principal=alice)
    order = await o.place_order(q["token"], principal=alice, idempotency_key="c1")
    assert await _stock(shop, "mummies") == 1
    cancelled = await o.cancel_order(order["order_id"], principal=alice)
    assert cancelled["status"] == "cancelled" and not cancelled["cancellable"]
    assert await _stock(shop, "mummies") == 3, "cancelling returns the stock"
    again = await o.cancel_order(order["order_id"], principal=alice)
    assert again["status"] == "cancelled" and await _stock(shop, "mummies") == 3
    q = await o.quote_order([{"isbn": shop["isbn"]["mummies"], "quantity": 1}], principal=alice)
    order2 = await o.place_order(q["token"], principal=alice, idempotency_key="c2")
    await set_status(db, order2["order_id"], "shipped", staff=True)
    with pytest.raises(Conflict, match="shipped"):
        await o.cancel_order(order2["order_id"], principal=alice)


async def test_anonymous_and_bad_keys_are_refused(shop: dict[str, Any], alice: Principal) -> None:
    with pytest.raises(Forbidden, match="session"):
        await o.add_to_cart(shop["isbn"]["flu"], 1, principal=ANONYMOUS)
    q = await o.quote_order([{"isbn": shop["isbn"]["flu"], "quantity": 1}], principal=alice)
    for key in ("", " ", "x" * 201, "bad key with spaces"):
        with pytest.raises(InvalidInput, match="idempotency key"):
            await o.place_order(q["token"], principal=alice, idempotency_key=key)
