"""Text rendering of ChatService output for Discord (pure functions; 2000 characters per message)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "THINKING",
    "MAX_CONTENT",
    "progress_text",
    "reply_text",
    "citation_label",
    "quote_text",
    "error_text",
    "FEEDBACK_EMOJI",
    "score_of",
]

THINKING = "Thinking…"
MAX_CONTENT = 2000
MAX_CITATIONS = 6
FEEDBACK_EMOJI = {"👍": 1, "👎": -1}
STEP_LABELS = {
    "expand": "expanding the question",
    "hyde": "drafting a search passage",
    "retrieve": "searching the documents",
    "rerank": "ranking passages",
    "catalog": "looking in the catalog",
    "order": "preparing the order",
    "confirm": "asking for confirmation",
    "answer": "writing the answer",
    "clarify": "asking a question",
    "refuse": "declining",
}


def score_of(emoji: str) -> int | None:
    """+1 for 👍, -1 for 👎 (any skin tone), else None."""
    for base, score in FEEDBACK_EMOJI.items():
        if emoji and emoji.startswith(base):
            return score
    return None


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def progress_text(steps: list[str], text: str) -> str:
    if text.strip():
        return cut(text, MAX_CONTENT - 2) + " ▌"
    if steps:
        return f"{THINKING} ({STEP_LABELS.get(steps[-1], steps[-1])})"
    return THINKING


def citation_label(c: dict[str, Any]) -> str:
    parts = [str(c.get("source") or "document")]
    if c.get("section"):
        parts.append(str(c["section"]))
    if c.get("page") not in (None, ""):
        parts.append(f"p. {c['page']}")
    return " · ".join(parts)


def _money(cents: int | None, currency: str = "USD") -> str:
    cents = int(cents or 0)
    return ("$" if currency == "USD" else f"{currency} ") + f"{cents // 100}.{cents % 100:02d}"


def quote_text(quote: dict[str, Any]) -> str:
    cur = quote.get("currency", "USD")
    lines = [
        f"- {it.get('quantity')} × {it.get('title')} (ISBN {it.get('isbn')}) at "
        f"{_money(it.get('unit_price_cents'), cur)} = {_money(it.get('line_total_cents'), cur)}"
        for it in quote.get("items") or []
    ]
    demo = " (demo prices)" if quote.get("demo_price") else ""
    return (
        "**Confirm this order?**\n"
        + "\n".join(lines)
        + f"\nTotal: {_money(quote.get('total_cents'), cur)}{demo}"
    )


def reply_text(reply: dict[str, Any], *, quote: dict[str, Any] | None = None) -> str:
    """Answer, then numbered sources (source · section · page), the quote, and a feedback hint."""
    tail: list[str] = []
    citations = list(reply.get("citations") or [])[:MAX_CITATIONS]
    if citations:
        tail.append("**Sources**")
        for n, c in enumerate(citations, 1):
            snippet = cut(" ".join(str(c.get("snippet") or "").split()), 140)
            tail.append(f"[{n}] {citation_label(c)}" + (f" — “{snippet}”" if snippet else ""))
    if quote and quote.get("quote_id") and not reply.get("order"):
        tail.append(quote_text(quote))
    if reply.get("answer_id"):
        tail.append("-# React with 👍 or 👎 to rate this answer.")
    tail_text = "\n".join(tail)
    answer = str(reply.get("answer") or "").strip() or "(no answer)"
    room = MAX_CONTENT - len(tail_text) - 2
    if room < 200:  # very long tails: drop snippets rather than the answer
        tail_text = cut(tail_text, MAX_CONTENT - 600)
        room = MAX_CONTENT - len(tail_text) - 2
    body = cut(answer, room)
    return f"{body}\n\n{tail_text}" if tail_text else body


def error_text(reason: str | None, *, reference: str | None = None) -> str:
    """A failure in words: ``reason`` must be a sentence meant for users (never exception text);
    ``reference`` is the correlation id under which the details are logged."""
    reason = cut(" ".join((reason or "").split()), 200)
    text = (
        f"Sorry, something went wrong: {reason}"
        if reason
        else "Sorry, something went wrong. Please try again."
    )
    return f"{text} (reference {reference})" if reference else text
