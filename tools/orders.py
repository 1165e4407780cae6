"""Cart and order tools. ``principal`` and ``idempotency_key`` are injected by the channel, never set by
a model. Prices and totals always come from the database; money is integer cents.

Flow: add_to_cart -> quote_order (prices fixed, signed confirmation token) -> the customer confirms ->
place_order(token, idempotency_key) -> order_status / list_orders / cancel_order (until shipped).
"""

from __future__ import annotations

from typing import Any

from memory.commerce import orders as _orders
from memory.principals import Principal
from tools.catalog import commerce_errors
from tools.deps import current
from tools.errors import Forbidden, InvalidInput

__all__ = [
    "add_to_cart",
    "cancel_order",
    "list_orders",
    "order_status",
    "place_order",
    "quote_order",
    "remove_from_cart",
    "show_cart",
]


def _owner(principal: Principal) -> str:
    if not isinstance(principal, Principal):
        raise InvalidInput("A principal is required.")
    if principal.kind == "customer" and principal.id == "anonymous":
        raise Forbidden("Start a session to use a cart and place orders.", code="session_required")
    return principal.key


def _secret() -> str:
    from memory.secrets import session_secret

    return session_secret(current().settings)


async def add_to_cart(isbn: str, quantity: int = 1, *, principal: Principal) -> dict[str, Any]:
    """Add copies of a book (by ISBN) to the customer's cart; returns the cart."""
    with commerce_errors():
        return await _orders.add_to_cart(
            current().db, _owner(principal), isbn, quantity, _orders.Limits.from_env()
        )


async def remove_from_cart(isbn: str, *, principal: Principal) -> dict[str, Any]:
    """Remove a book (by ISBN) from the customer's cart; returns the cart."""
    with commerce_errors():
        return await _orders.remove_from_cart(current().db, _owner(principal), isbn)


async def show_cart(*, principal: Principal) -> dict[str, Any]:
    """Show the customer's cart with current prices and the total in cents."""
    with commerce_errors():
        return await _orders.show_cart(current().db, _owner(principal))


async def quote_order(items: list[dict] | None = None, *, principal: Principal) -> dict[str, Any]:
    """Quote an order: fix prices for 15 minutes and return a confirmation token.

    items: [{"isbn": ..., "quantity": ...}] or None for the cart. Returns quote_id, token, items
    (unit_price_cents, line_total_cents), total_cents, currency, expires_at, demo_price. Show the
    quote to the customer and place the order only after they confirm it.
    """
    with commerce_errors():
        return await _orders.quote(
            current().db, _secret(), _owner(principal), items, _orders.Limits.from_env()
        )


async def place_order(token: str, *, principal: Principal, idempotency_key: str) -> dict[str, Any]:
    """Place the order a customer confirmed, using the quote's confirmation token.

    Refused (with the reason) when the token is altered or expired, a price changed since the quote
    (re-confirmation needed) or stock ran out. Retrying with the same idempotency key returns the
    same order instead of creating a second one.
    """
    with commerce_errors():
        return await _orders.place_order(current().db, _secret(), _owner(principal), token, idempotency_key)


async def order_status(order_id: str, *, principal: Principal) -> dict[str, Any]:
    """Show one of the customer's orders: status, items and total."""
    with commerce_errors():
        return await _orders.get_order(
            current().db, _owner(principal), order_id, staff=principal.can("orders")
        )


async def list_orders(*, principal: Principal, customer: str | None = None) -> list[dict[str, Any]]:
    """List the customer's orders, newest first (staff with the orders role may name a customer)."""
    owner = _owner(principal)
    if customer is not None:
        if not principal.can("orders"):
            raise Forbidden("Only staff with the orders role can list another customer's orders.")
        try:
            owner = Principal.parse(customer).key
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    with commerce_errors():
        return await _orders.list_orders(current().db, owner)


async def cancel_order(order_id: str, *, principal: Principal) -> dict[str, Any]:
    """Cancel one of the customer's orders while it has not shipped; stock is returned."""
    with commerce_errors():
        return await _orders.cancel_order(
            current().db, _owner(principal), order_id, staff=principal.can("orders")
        )
