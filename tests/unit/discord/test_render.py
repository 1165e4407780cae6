"""Discord rendering, buttons and principals (no network)."""

from __future__ import annotations

from channels.discord import render
from channels.discord.bot import CONFIRM_PREFIX, confirm_view, principal_of_user

QUOTE = {
    "quote_id": "q_9",
    "items": [
        {
            "isbn": "9780000000001",
            "title": "Dune",
            "quantity": 2,
            "unit_price_cents": 999,
            "line_total_cents": 1998,
        }
    ],
    "total_cents": 1998,
    "currency": "USD",
    "demo_price": True,
}


def test_reply_text_has_answer_numbered_sources_and_hint() -> None:
    text = render.reply_text(
        {
            "answer": "Thirty days.",
            "answer_id": "a",
            "citations": [
                {"source": "returns.md", "section": "Returns", "page": 3, "snippet": "Books may be returned"},
                {"source": "faq.md"},
            ],
        }
    )
    assert text.startswith(
        "Thirty days.\n\n**Sources**\n[1] returns.md · Returns · p. 3 — “Books may be returned”"
    )
    assert "[2] faq.md" in text and text.endswith("-# React with 👍 or 👎 to rate this answer.")


def test_reply_text_fits_in_a_discord_message() -> None:
    cites = [{"source": "s" * 100, "section": "x" * 100, "snippet": "y" * 500} for _ in range(10)]
    text = render.reply_text({"answer": "a" * 5000, "citations": cites, "answer_id": "x"}, quote=QUOTE)
    assert len(text) <= render.MAX_CONTENT and text.startswith("aaa")


async def test_quote_text_and_buttons() -> None:
    text = render.reply_text({"answer": "Please confirm."}, quote=QUOTE)
    assert "2 × Dune (ISBN 9780000000001) at $9.99 = $19.98" in text and "Total: $19.98 (demo prices)" in text
    view = confirm_view("q_9")
    ids = [c.custom_id for c in view.children]  # type: ignore[attr-defined]
    assert ids == [f"{CONFIRM_PREFIX}confirm:q_9", f"{CONFIRM_PREFIX}cancel:q_9"]
    assert view.is_finished()  # handled by on_interaction from the custom_id, not the in-memory view store
    rows = view.to_components()
    assert rows[0]["components"][0]["custom_id"] == "libromind:confirm:q_9"


def test_feedback_emoji_progress_errors_and_principal() -> None:
    assert render.score_of("👍") == 1 and render.score_of("👎🏽") == -1 and render.score_of("🎉") is None
    assert render.progress_text([], "") == "Thinking…"
    assert render.progress_text(["retrieve"], "") == "Thinking… (searching the documents)"
    assert render.progress_text(["answer"], "Thirty") == "Thirty ▌"
    assert render.error_text("boom") == "Sorry, something went wrong: boom"
    p = principal_of_user(1234)
    assert p.key == "customer:discord-1234" and p.scopes == ("public",)
