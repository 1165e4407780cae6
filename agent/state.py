"""Graph state: data only (JSON-able), never clients or secrets.

Per-turn fields are reset by the ``begin`` node; conversation memory (``messages``, ``memo``) and a
pending order quote survive between turns in the checkpointer.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["AgentState", "TURN_RESET", "STEP_NAMES", "MAX_HISTORY"]

STEP_NAMES = (
    "expand",
    "hyde",
    "retrieve",
    "rerank",
    "catalog",
    "order",
    "confirm",
    "answer",
    "clarify",
    "refuse",
)
MAX_HISTORY = 20


class AgentState(TypedDict, total=False):
    # conversation memory
    messages: list[dict[str, str]]  # [{"role": "user"|"assistant", "content": ...}], last MAX_HISTORY
    memo: dict[str, Any]  # last_intent, last_query, last_items (ISBNs shown), focus_isbn, last_order_id
    # the turn
    message: str  # the user's message this turn (input)
    route: dict[str, Any]  # the policy's decision: intent, query, entities, flags
    queries: list[str]
    hyde_text: str | None
    hits: list[dict[str, Any]]  # Hit fields
    steps: list[str]
    answer: str
    citations: list[dict[str, Any]]
    items: list[dict[str, Any]]  # books shown this turn
    order: dict[str, Any] | None  # an order placed/inspected this turn (DESIGN reply shape)
    quote: dict[str, Any] | None  # a quote awaiting confirmation (survives to the next turn)
    notices: list[str]
    flagged: list[str]  # answer sentences dropped by the grounding check
    relevance: float  # best question/sentence match of the passages (the "I don't know" threshold)
    cache: dict[str, Any]  # {"cacheable", "hit", "entry_id"}
    policy: str
    model: str | None


TURN_RESET: dict[str, Any] = {
    "route": {},
    "queries": [],
    "hyde_text": None,
    "hits": [],
    "steps": [],
    "answer": "",
    "citations": [],
    "items": [],
    "order": None,
    "notices": [],
    "flagged": [],
    "relevance": 0.0,
    "cache": {},
}
