"""The web-shop HTTP API (channels/web/routes/commerce.py) over ASGI, with signed session tokens."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from channels.web.deps import mint_session_token
from channels.web.errors import install_error_handlers
from channels.web.routes.commerce import router
from memory.principals import Principal


def _client(shop: dict[str, Any]) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.deps = shop["deps"]
    app.include_router(router)
    install_error_handlers(app)  # as create_app does: ToolErrors answer {error, message}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")


def _auth(shop: dict[str, Any], who: str) -> dict[str, str]:
    token = mint_session_token(shop["deps"].settings, Principal.parse(who))
    return {"Authorization": f"Bearer {token}"}


async def test_shop_api_end_to_end(shop: dict[str, Any]) -> None:
    alice, bob = _auth(shop, "customer:alice"), _auth(shop, "customer:bob")
    async with _client(shop) as http:
        r = await http.get("/v1/catalog/search", params={"q": "mythology", "in_stock": True})
        assert r.status_code == 200 and r.json()["results"][0]["isbn"] == "9780195153446"
        r = await http.get("/v1/books/0-19-515344-8")
        assert r.status_code == 200 and r.json()["price_cents"] == 1299 and r.json()["demo_price"] is False
        r = await http.get("/v1/books/9780306406157")
        assert r.status_code == 404 and r.json()["error"] == "unknown_isbn"
        r = await http.post("/v1/cart", json={"isbn": "0195153448", "quantity": 2}, headers=alice)
        assert r.status_code == 200 and r.json()["total_cents"] == 2598
        r = await http.post("/v1/cart", json={"isbn": "0374157065", "quantity": 0}, headers=alice)
        assert r.status_code == 422 and r.json()["error"] == "bad_quantity"
        r = await http.get("/v1/cart")  # no session: no shared anonymous principal, 401 asking for one
        assert r.status_code == 401 and r.json()["error"] == "session_required"
        q = (await http.post("/v1/orders/quote", json={}, headers=alice)).json()
        assert q["total_cents"] == 2598 and q["token"]
        r = await http.post("/v1/orders", json={"token": q["token"]}, headers=alice)
        assert r.status_code == 400 and r.json()["error"] == "idempotency_key_required"
        r = await http.post(
            "/v1/orders", json={"token": q["token"]}, headers={**alice, "Idempotency-Key": "web-1"}
        )
        assert r.status_code == 201
        order = r.json()
        r = await http.post(
            "/v1/orders", json={"token": q["token"]}, headers={**alice, "Idempotency-Key": "web-1"}
        )
        assert r.status_code == 200 and r.json()["order_id"] == order["order_id"] and r.json()["replayed"]
        r = await http.get(f"/v1/orders/{order['order_id']}", headers=bob)
        assert r.status_code == 404
        r = await http.get("/v1/orders", headers=alice)
        assert [o["order_id"] for o in r.json()] == [order["order_id"]]
        r = await http.post(f"/v1/orders/{order['order_id']}/cancel", headers=alice)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        r = await http.delete("/v1/cart/0195153448", headers=alice)
        assert r.status_code == 404  # the order emptied the cart
        bad = q["token"][:-4] + ("AAAA" if not q["token"].endswith("AAAA") else "BBBB")
        r = await http.post("/v1/orders", json={"token": bad}, headers={**alice, "Idempotency-Key": "web-2"})
        assert r.status_code == 422 and r.json()["error"] == "bad_token"


async def test_openapi_documents_the_shop(shop: dict[str, Any]) -> None:
    async with _client(shop) as http:
        spec = (await http.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/v1/catalog/search", "get"),
        ("/v1/books/{isbn}", "get"),
        ("/v1/cart", "get"),
        ("/v1/cart", "post"),
        ("/v1/cart/{isbn}", "delete"),
        ("/v1/orders", "post"),
        ("/v1/orders", "get"),
        ("/v1/orders/{order_id}", "get"),
        ("/v1/orders/{order_id}/cancel", "post"),
        ("/v1/orders/quote", "post"),
    ]:
        op = paths[path][method]
        assert "200" in op["responses"] or "201" in op["responses"], (path, method)
        assert "404" in op["responses"] and "409" in op["responses"]
    schemas = spec["components"]["schemas"]
    assert {"BookOut", "SearchOut", "CartOut", "QuoteOut", "OrderOut", "ErrorOut"} <= set(schemas)
    assert "demo_price" in schemas["BookOut"]["properties"]
    params = {p["name"] for p in paths["/v1/orders"]["post"]["parameters"]}
    assert "Idempotency-Key" in params
