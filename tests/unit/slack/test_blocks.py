"""Block Kit rendering of ChatService replies (no network)."""

from __future__ import annotations

from channels.slack import blocks as ui

REPLY = {
    "answer": "Books may be returned within **30 days** <with receipt> & refunds follow.",
    "citations": [
        {
            "source": "policies/returns.md",
            "section": "Returns",
            "page": 2,
            "snippet": "Books may be returned",
            "chunk_id": "c1",
        },
        {"source": "faq.md", "section": None, "page": None, "snippet": "", "chunk_id": "c2"},
    ],
    "answer_id": "ans_1",
}
QUOTE = {
    "quote_id": "q_1",
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


def test_answer_and_citations_are_sections_and_context_blocks() -> None:
    blocks = ui.reply_blocks(REPLY)
    first = blocks[0]
    assert first["type"] == "section"
    assert (
        first["text"]["text"]
        == "Books may be returned within *30 days* &lt;with receipt&gt; &amp; refunds follow."
    )
    contexts = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert "policies/returns.md · Returns · p. 2" in contexts
    assert "faq.md" in contexts
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert any(s.startswith("*[1] policies/returns.md*\n>Books may be returned") for s in sections)
    assert "React with :+1: or :-1:" in contexts[-1]
    assert not [b for b in blocks if b["type"] == "actions"]


def test_quote_gets_confirm_and_cancel_buttons() -> None:
    blocks = ui.reply_blocks({"answer": "Please confirm.", "citations": []}, quote=QUOTE)
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 1
    ids = {(e["action_id"], e["value"]) for e in actions[0]["elements"]}
    assert ids == {(ui.CONFIRM_ACTION, "q_1"), (ui.CANCEL_ACTION, "q_1")}
    quote_text = next(b for b in blocks if b.get("block_id") == "quote")["text"]["text"]
    assert "2 × Dune (ISBN 9780000000001) at $9.99 = $19.98" in quote_text
    assert "Total: $19.98 (demo prices)" in quote_text
    # once an order exists there is nothing left to confirm
    placed = ui.reply_blocks({"answer": "Order placed.", "order": {"id": "o1"}}, quote=QUOTE)
    assert not [b for b in placed if b["type"] == "actions"]


def test_long_answers_are_split_and_capped() -> None:
    blocks = ui.reply_blocks({"answer": ("word " * 2000).strip(), "citations": []})
    assert len(blocks) >= 3 and all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    many = ui.reply_blocks({"answer": "x", "citations": [{"source": f"s{i}"} for i in range(40)]})
    assert len(many) <= 50


def test_progress_fallback_and_errors() -> None:
    assert ui.progress_text([], "") == "Thinking…"
    assert ui.progress_text(["expand", "retrieve"], "") == "Thinking… (searching the documents)"
    assert ui.progress_text(["answer"], "Books may") == "Books may ▌"
    text = ui.fallback_text(REPLY)
    assert text.startswith("Books may be returned") and "[1] policies/returns.md · Returns · p. 2" in text
    assert ui.error_text("boom") == "Sorry, something went wrong: boom"
    assert ui.error_text("") == "Sorry, something went wrong. Please try again."
    assert len(ui.error_text("x" * 1000)) < 240
    assert (
        ui.error_text(None, reference="abc123")
        == "Sorry, something went wrong. Please try again. (reference abc123)"
    )


def test_only_worded_reasons_reach_users() -> None:
    from channels.turns import failure_reference, safe_reason
    from memory.logs import correlated
    from tools.errors import Unavailable

    assert (
        safe_reason(Unavailable("The catalog is unavailable right now."))
        == "The catalog is unavailable right now."
    )
    assert safe_reason(TimeoutError()) == "that took too long, please try again"
    assert safe_reason(RuntimeError("postgresql://u:hunter2@db/prod")) is None  # exception text: logs only
    assert safe_reason(KeyError("secret")) is None
    assert failure_reference() is None
    with correlated("cid-1"):
        assert failure_reference() == "cid-1"


def test_decided_blocks_remove_the_buttons() -> None:
    blocks = ui.reply_blocks({"answer": "Please confirm."}, quote=QUOTE)
    done = ui.decided_blocks(blocks, "confirmed", "U1")
    assert not [b for b in done if b["type"] == "actions"]
    assert done[-1]["elements"][0]["text"] == "Confirmed by <@U1>."
