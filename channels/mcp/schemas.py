"""Structured outputs of the MCP tools (their JSON schemas are what MCP clients see)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "DocResult",
    "SearchResults",
    "Citation",
    "AskReply",
    "Book",
    "BookPage",
    "Recommendation",
    "Recommendations",
    "OrderItem",
    "OrderLine",
    "QuoteLine",
    "Quote",
    "Order",
    "FeedbackAck",
]


class DocResult(BaseModel):
    chunk_id: str
    doc_id: str
    source: str
    title: str
    section: str
    page: int | None = None
    text: str
    score: float


class SearchResults(BaseModel):
    results: list[DocResult]


class Citation(BaseModel):
    source: str
    section: str | None = None
    page: int | None = None
    snippet: str | None = None
    chunk_id: str | None = None


class AskReply(BaseModel):
    answer: str
    citations: list[Citation]
    steps: list[str]
    cache_hit: bool
    order: dict | None = None
    latency_ms: float
    answer_id: str | None = None
    thread: str | None = None


class Book(BaseModel):
    isbn: str
    title: str
    author: str | None = None
    year: int | None = None
    publisher: str | None = None
    price_cents: int | None = None
    stock: int | None = None
    demo_price: bool = Field(
        True, description="Prices and stock of the demo catalog are generated demo values."
    )
    cover_url: str | None = None


class BookPage(BaseModel):
    items: list[Book]
    total: int
    page: int
    page_size: int


class Recommendation(Book):
    reason: str


class Recommendations(BaseModel):
    items: list[Recommendation]


class OrderLine(BaseModel):
    isbn: str
    quantity: int = Field(1, description="Copies (1-20).")


class QuoteLine(BaseModel):
    isbn: str
    title: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class Quote(BaseModel):
    quote_id: str
    token: str = Field(description="Pass to place_order to place exactly this order.")
    items: list[QuoteLine]
    total_cents: int
    currency: str
    expires_at: str
    demo_price: bool


class OrderItem(BaseModel):
    isbn: str
    title: str
    author: str | None = None
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class Order(BaseModel):
    order_id: str
    status: str
    items: list[OrderItem]
    total_cents: int
    total_display: str | None = None
    currency: str
    demo_price: bool
    created_at: str | None = None
    cancellable: bool = False


class FeedbackAck(BaseModel):
    stored: bool
    answer_id: str
    score: Literal[1, -1]
