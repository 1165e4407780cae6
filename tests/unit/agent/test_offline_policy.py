"""The offline policy's routing and extractive answers with the real embedding model (no services)."""

from __future__ import annotations

import pytest

from agent.policy.offline import OfflinePolicy
from memory.documents.embed import get_embedder
from memory.principals import Principal

CUSTOMER = Principal.parse("customer:c")


@pytest.fixture(scope="module")
def offline() -> OfflinePolicy:
    return OfflinePolicy(get_embedder())


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # how the shop works is documentation, whatever the kNN neighbours of "book" say
        ("how many days to return a book", "docs"),
        ("How long do I have to send a book back?", "docs"),
        ("Can I return a book I bought last week?", "docs"),
        ("What is the return window for books?", "docs"),
        ("Can I get a refund on my order?", "docs"),
        # titles and buying keep their routes
        ("Do you have The Return of the King?", "catalog"),
        ("How much is The Return of the King?", "catalog"),
        ("Buy The Hobbit, can I return it later if I don't like it?", "order"),
        ("Order two copies of Life of Pi", "order"),
        # nothing to order: ask which book instead of searching the catalog for "it"
        ("order it", "clarify"),
    ],
)
def test_routes(offline: OfflinePolicy, text: str, intent: str) -> None:
    assert offline.route_sync(text, {}, CUSTOMER)["intent"] == intent


def test_bookless_order_resolves_from_the_conversation(offline: OfflinePolicy) -> None:
    memo = {"last_intent": "catalog", "last_query": "Dune", "focus_isbn": "9780441172719"}
    r = offline.route_sync("order it", memo, CUSTOMER)
    assert r["intent"] == "order" and r["isbns"] == ["9780441172719"]


def test_focus_drops_document_kind_words(offline: OfflinePolicy) -> None:
    r = offline.route_sync("What is the refund policy for returns?", {}, Principal.parse("employee:e"))
    assert r["intent"] == "docs" and r["query"] == "What is the refund policy for returns?"
    assert r["focus"] == "What is the refund for returns?"


def _hit(text: str) -> dict:
    return {"chunk_id": f"u-{abs(hash(text))}", "source": "refunds.md", "section": "", "text": text}


def test_duration_question_needs_a_duration(offline: OfflinePolicy) -> None:
    q = "How many days does a customer have to return a book?"
    no = offline.extract(
        q, q, [_hit("Staff may refund purchases of a book up to 80 dollars when a customer has a receipt.")]
    )
    assert "don't know" in no.answer and not no.citations
    yes = offline.extract(
        q, q, [_hit("A customer may return a book within 30 days of purchase with a receipt.")]
    )
    assert "30 days" in yes.answer and yes.citations
