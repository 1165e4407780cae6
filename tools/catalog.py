"""Catalog tools: search and browse books, look one up by ISBN, recommend, match books named in text.

Prices and stock come from the database. The demo catalog (Book-Crossing) has generated demo prices
and stock: every result carries ``"demo_price": true`` for those, and it must be shown to users.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from memory.commerce import BadRequest, Clash, CommerceError, Denied, Missing
from memory.commerce import catalog as _catalog
from memory.commerce import recommend as _recommend
from tools.deps import current
from tools.errors import Conflict, Forbidden, InvalidInput, NotFound, ToolError

__all__ = ["commerce_errors", "get_book", "match_books", "recommend", "search_books"]

_MAP: dict[type[CommerceError], type[ToolError]] = {
    BadRequest: InvalidInput,
    Missing: NotFound,
    Denied: Forbidden,
    Clash: Conflict,
}


@contextmanager
def commerce_errors() -> Iterator[None]:
    """Turn memory.commerce errors into tools.errors (same message, stable code)."""
    try:
        yield
    except CommerceError as exc:
        raise _MAP.get(type(exc), InvalidInput)(exc.message, code=exc.code) from None


async def search_books(
    query: str | None = None,
    *,
    author: str | None = None,
    publisher: str | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    price_min_cents: int | None = None,
    price_max_cents: int | None = None,
    in_stock: bool | None = None,
    sort: Literal["relevance", "title", "year", "price"] = "relevance",
    page: int = 1,
    page_size: int = 10,
) -> dict[str, Any]:
    """Search the book catalog by title or author words (typo-tolerant and by meaning), with filters.

    Filters: author / publisher (substring), year range, price range in integer cents, in_stock.
    Sorted by relevance (or title, year: newest first, price: cheapest first); paginated
    (page_size 1-50). Returns {"total", "page", "results": [{"isbn", "title", "author", "year",
    "price_cents", "currency", "demo_price", "in_stock", ...}], "demo_price"}.
    """
    deps = current()
    with commerce_errors():
        return await _catalog.search_books(
            deps.db,
            deps.embedder,
            query,
            author=author,
            publisher=publisher,
            year_min=year_min,
            year_max=year_max,
            price_min_cents=price_min_cents,
            price_max_cents=price_max_cents,
            in_stock=in_stock,
            sort=sort,
            page=page,
            page_size=page_size,
        )


async def get_book(isbn: str) -> dict[str, Any]:
    """Look up one book by ISBN-10 or ISBN-13 (hyphens allowed): details, price, stock, demo flag."""
    with commerce_errors():
        return await _catalog.get_book(current().db, isbn)


async def recommend(
    isbn: str, kind: Literal["similar", "also_liked"] = "similar", k: int = 5
) -> list[dict[str, Any]]:
    """Recommend books related to one book, each with the reason it is recommended.

    kind="similar": closest in title, author and publisher (semantic). kind="also_liked": what readers
    who liked this book also liked (from reader ratings); when no reader data exists for the book,
    similar books are returned instead (their "kind" says so).
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 20:
        raise InvalidInput("k must be between 1 and 20.")
    if kind not in ("similar", "also_liked"):
        raise InvalidInput("kind must be 'similar' or 'also_liked'.")
    deps = current()
    with commerce_errors():
        if kind == "also_liked":
            out = await _recommend.also_liked(deps.db, isbn, k)
            if out:
                return out
            fallback = await _recommend.similar(deps.db, deps.embedder, isbn, k)
            for d in fallback:
                d["reason"] = (
                    "No reader ratings link this book to others yet; "
                    + d["reason"][0].lower()
                    + d["reason"][1:]
                )
            return fallback
        return await _recommend.similar(deps.db, deps.embedder, isbn, k)


async def match_books(text: str, limit: int = 5) -> list[dict[str, Any]]:
    """Find the books a message mentions by ISBN, title or author (best match first)."""
    if not isinstance(text, str):
        raise InvalidInput("text must be a string.")
    with commerce_errors():
        return await _catalog.match_books(current().db, text, limit)
