"""What a policy decides (the route of a turn) and how it composes answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from memory.principals import Principal

__all__ = ["Policy", "Route", "SMALLTALK_REPLIES", "new_route"]

Route = dict[str, Any]
LLM = Callable[[str], Awaitable[str]]

SMALLTALK_REPLIES = {
    "greet": "Hello! I'm the bookstore assistant. I can find books, place orders (always after you confirm), "
    "and answer questions from our documentation, with citations.",
    "thanks": "You're welcome! Anything else I can help with?",
    "bye": "Goodbye, and happy reading!",
    "who": "I'm the bookstore's assistant: ask me about books in our catalog, your cart and orders, or our "
    "documentation. I cite the passages I answer from.",
}


def new_route(text: str) -> Route:
    return {
        "intent": "clarify",
        "query": text,
        "focus": text,
        "isbns": [],
        "quantity": None,
        "order_id": None,
        "ordinal": None,
        "followup": False,
        "expand": False,
        "hyde": False,
        "confidence": 0.0,
        "reason": "",
        "action": None,
    }


class Policy(Protocol):
    """A decision maker. ``llm`` is an async prompt -> text callable (None when offline)."""

    name: str
    model: str | None
    llm: LLM | None

    async def route(
        self,
        message: str,
        memo: dict[str, Any],
        principal: Principal,
        *,
        history: list[dict[str, str]] | None = None,
    ) -> Route: ...

    async def compose(
        self,
        question: str,
        focus: str,
        hits: list[dict[str, Any]],
        *,
        writer: Callable[[dict], None] | None = None,
    ) -> Any: ...
