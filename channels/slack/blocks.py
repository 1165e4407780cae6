"""Block Kit rendering of ChatService output (pure functions: no I/O).

- while a turn runs: :func:`progress_text` (steps taken, then the answer so far);
- the final reply: :func:`reply_blocks` -> answer section(s), one section + context block per citation
  (source, section, page), the order quote with Confirm / Cancel buttons, and a feedback hint;
- :func:`fallback_text` is the plain ``text`` Slack shows in notifications and old clients.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "CONFIRM_ACTION",
    "CANCEL_ACTION",
    "THINKING",
    "escape",
    "mrkdwn",
    "progress_text",
    "reply_blocks",
    "fallback_text",
    "citation_label",
    "money",
    "quote_lines",
    "decided_blocks",
    "error_text",
]

CONFIRM_ACTION = "libromind_confirm"
CANCEL_ACTION = "libromind_cancel"
THINKING = "Thinking…"
SECTION_MAX = 2900  # Slack: 3000 characters per section text
MAX_CITATIONS = 8
MAX_TEXT = 3900  # chat.update text kept well under Slack's 4000 "truncation" advice
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
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """Answer text (light Markdown) as Slack mrkdwn."""
    return _BOLD.sub(r"*\1*", escape(text))


def money(cents: int | None, currency: str = "USD") -> str:
    cents = int(cents or 0)
    sym = "$" if currency == "USD" else f"{currency} "
    return f"{sym}{cents // 100}.{cents % 100:02d}"


def progress_text(steps: list[str], text: str) -> str:
    """The placeholder's text while a turn runs."""
    if text.strip():
        body = text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
        return body + " ▌"
    if steps:
        return f"{THINKING} ({STEP_LABELS.get(steps[-1], steps[-1])})"
    return THINKING


def citation_label(c: dict[str, Any]) -> str:
    """``source · section · p. N`` (parts that are missing are left out)."""
    parts = [str(c.get("source") or "document")]
    if c.get("section"):
        parts.append(str(c["section"]))
    if c.get("page") not in (None, ""):
        parts.append(f"p. {c['page']}")
    return " · ".join(parts)


def _split(text: str, limit: int = SECTION_MAX) -> list[str]:
    out: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        out.append(text)
    return out


def quote_lines(quote: dict[str, Any]) -> list[str]:
    cur = quote.get("currency", "USD")
    lines = [
        f"{it.get('quantity')} × {it.get('title')} (ISBN {it.get('isbn')}) at "
        f"{money(it.get('unit_price_cents'), cur)} = {money(it.get('line_total_cents'), cur)}"
        for it in quote.get("items") or []
    ]
    demo = " (demo prices)" if quote.get("demo_price") else ""
    lines.append(f"Total: {money(quote.get('total_cents'), cur)}{demo}")
    return lines


def _quote_blocks(quote: dict[str, Any]) -> list[dict[str, Any]]:
    qid = str(quote.get("quote_id") or "")
    text = "*Confirm this order?*\n" + "\n".join(escape(line) for line in quote_lines(quote))
    return [
        {"type": "section", "block_id": "quote", "text": {"type": "mrkdwn", "text": text[:SECTION_MAX]}},
        {
            "type": "actions",
            "block_id": "quote_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": CONFIRM_ACTION,
                    "style": "primary",
                    "value": qid,
                    "text": {"type": "plain_text", "text": "Confirm order"},
                },
                {
                    "type": "button",
                    "action_id": CANCEL_ACTION,
                    "style": "danger",
                    "value": qid,
                    "text": {"type": "plain_text", "text": "Cancel"},
                },
            ],
        },
    ]


def reply_blocks(reply: dict[str, Any], *, quote: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Blocks for a final reply: answer, citations (section + context each), quote buttons, hint."""
    blocks: list[dict[str, Any]] = []
    answer = str(reply.get("answer") or "").strip() or "(no answer)"
    for part in _split(mrkdwn(answer)):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": part}})
    citations = list(reply.get("citations") or [])[:MAX_CITATIONS]
    if citations:
        blocks.append({"type": "divider"})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "*Sources*"}]})
    for n, c in enumerate(citations, 1):
        snippet = " ".join(str(c.get("snippet") or "").split())
        if len(snippet) > 280:
            snippet = snippet[:279] + "…"
        head = f"*[{n}] {escape(str(c.get('source') or 'document'))}*"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": head + (f"\n>{escape(snippet)}" if snippet else "")},
            }
        )
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(citation_label(c))}]}
        )
    quote = quote or reply.get("quote")
    if isinstance(quote, dict) and quote.get("quote_id") and not reply.get("order"):
        blocks.extend(_quote_blocks(quote))
    if reply.get("answer_id"):
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "React with :+1: or :-1: to rate this answer."}],
            }
        )
    return blocks[:50]


def fallback_text(reply: dict[str, Any]) -> str:
    """Plain text of a reply (notifications; clients without blocks)."""
    text = str(reply.get("answer") or "").strip() or "(no answer)"
    citations = list(reply.get("citations") or [])[:MAX_CITATIONS]
    if citations:
        text += "\nSources: " + "; ".join(f"[{n}] {citation_label(c)}" for n, c in enumerate(citations, 1))
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def decided_blocks(blocks: list[dict[str, Any]], decision: str, user_id: str) -> list[dict[str, Any]]:
    """The quote message once its buttons were used: buttons removed, who decided shown."""
    verb = "Confirmed" if decision == "confirmed" else "Cancelled"
    kept = [b for b in blocks or [] if b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{verb} by <@{user_id}>."}]})
    return kept[:50]


def error_text(reason: str | None, *, reference: str | None = None) -> str:
    """A failure, told to the user in words: ``reason`` must be a sentence meant for users (never
    exception text); ``reference`` is the correlation id under which the details are logged."""
    reason = " ".join((reason or "").split())
    if len(reason) > 200:
        reason = reason[:199] + "…"
    text = (
        f"Sorry, something went wrong: {reason}"
        if reason
        else "Sorry, something went wrong. Please try again."
    )
    return f"{text} (reference {reference})" if reference else text
