"""Commerce persistence: catalog import and search, recommendations, carts, quotes and orders (SQL).

Errors raised here are ``CommerceError`` subclasses with a stable ``code`` and a sentence for the
user; the tools layer maps them onto ``tools.errors`` (memory imports no other project package).
"""

from __future__ import annotations

__all__ = ["CommerceError", "BadRequest", "Missing", "Denied", "Clash", "CURRENCY"]

CURRENCY = "USD"


class CommerceError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class BadRequest(CommerceError):
    """The request itself is wrong (bad ISBN, quantity out of range, tampered token)."""

    code = "invalid_input"


class Missing(CommerceError):
    """Unknown ISBN, or an order that does not exist *for this principal*."""

    code = "not_found"


class Denied(CommerceError):
    """The principal may not do this."""

    code = "forbidden"


class Clash(CommerceError):
    """The world changed: out of stock, price changed, key reused, quote expired or used."""

    code = "conflict"
