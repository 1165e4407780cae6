"""ISBN normalisation, money formatting, the public book dict and reads by ISBN."""

from __future__ import annotations

import re
from typing import Any

from memory.commerce import CURRENCY, BadRequest, Missing

__all__ = [
    "BOOK_COLS",
    "book_text",
    "fetch",
    "format_cents",
    "get_book",
    "get_books",
    "isbn13_to_10",
    "like",
    "normalize_isbn",
    "to_public",
]

_ISBN_CHARS = re.compile(r"[\s\-\u2010-\u2015]")
_W10 = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_W13 = (1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3)
_RE10 = re.compile(r"[0-9]{9}[0-9X]")
_RE13 = re.compile(r"97[89][0-9]{10}")


def _check10(d9: str) -> str:
    r = (11 - (sum(map(int.__mul__, _W10, d9.encode())) - 48 * 54) % 11) % 11
    return "X" if r == 10 else chr(48 + r)


def _check13(d12: str) -> str:
    return chr(48 + (10 - (sum(map(int.__mul__, _W13, d12.encode())) - 48 * 24) % 10) % 10)


def normalize_isbn(raw: object) -> str:
    """Return the ISBN-13 for an ISBN-10 or ISBN-13 (hyphens/spaces ignored); BadRequest if invalid."""
    s = _ISBN_CHARS.sub("", str(raw or "")).upper()
    if s.startswith("ISBN"):
        s = s[4:].lstrip(":")
    if not s:
        raise BadRequest("An ISBN is required.", code="bad_isbn")
    if _RE10.fullmatch(s):
        if _check10(s[:9]) != s[9]:
            raise BadRequest(f"ISBN {raw} has a bad check digit.", code="bad_isbn")
        d12 = "978" + s[:9]
        return d12 + _check13(d12)
    if _RE13.fullmatch(s):
        if _check13(s[:12]) != s[12]:
            raise BadRequest(f"ISBN {raw} has a bad check digit.", code="bad_isbn")
        return s
    raise BadRequest(f"{str(raw)[:40]!r} is not an ISBN (expected 10 or 13 digits).", code="bad_isbn")


def isbn13_to_10(isbn13: str) -> str | None:
    if not isbn13.startswith("978"):
        return None
    return isbn13[3:12] + _check10(isbn13[3:12])


def format_cents(cents: int, currency: str = CURRENCY) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    sym = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{sym}{cents // 100}.{cents % 100:02d}"


def book_text(title: str, author: str, publisher: str) -> str:
    """The text embedded for a book (title + author + publisher)."""
    parts = [title.strip()]
    if author:
        parts.append(f"by {author.strip()}")
    if publisher:
        parts.append(f"({publisher.strip()})")
    return " ".join(parts)


def to_public(row: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A JSON-able book dict; prices always carry their demo flag."""
    out: dict[str, Any] = {
        "isbn": row["isbn13"],
        "isbn10": row.get("isbn10"),
        "title": row["title"],
        "author": row["author"],
        "year": row.get("year"),
        "publisher": row.get("publisher", ""),
        "price_cents": int(row["price_cents"]),
        "currency": row.get("currency") or CURRENCY,
        "price_display": format_cents(int(row["price_cents"]), row.get("currency") or CURRENCY)
        + (" (demo price)" if row.get("demo") else ""),
        "demo_price": bool(row.get("demo")),
        "in_stock": int(row["stock"]) > 0,
        "stock": int(row["stock"]),
        "cover_url": row.get("cover_url"),
        "rating_count": int(row.get("rating_count") or 0),
    }
    if row.get("rating_avg") is not None:
        out["rating_avg"] = round(float(row["rating_avg"]), 2)
    if full:
        out["description"] = row.get("description") or ""
        out["genres"] = list(row.get("genres") or [])
    if row.get("score") is not None:
        out["score"] = round(float(row["score"]), 4)
    return out


# The columns to_public reads, from books b LEFT JOIN book_stats s.
BOOK_COLS = (
    "b.isbn13, b.isbn10, b.title, b.author, b.year, b.publisher, b.price_cents, b.currency, b.stock,"
    " b.cover_url, b.demo, s.rating_count, s.rating_avg"
)


async def fetch(db: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of one statement with named parameters (``%(name)s``)."""
    async with db.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


def like(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere (wildcards in ``text`` escaped)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def get_book(db: Any, isbn: str) -> dict[str, Any]:
    isbn13 = normalize_isbn(isbn)
    row = await db.fetchrow(
        f"SELECT {BOOK_COLS}, b.description, b.genres FROM books b"
        " LEFT JOIN book_stats s USING (isbn13) WHERE b.isbn13 = %s",
        isbn13,
    )
    if row is None:
        raise Missing(f"No book with ISBN {isbn} in the catalog.", code="unknown_isbn")
    return to_public(row, full=True)


async def get_books(db: Any, isbn13s: list[str]) -> dict[str, dict[str, Any]]:
    rows = await db.fetch(
        f"SELECT {BOOK_COLS} FROM books b LEFT JOIN book_stats s USING (isbn13) WHERE b.isbn13 = ANY(%s)",
        list(isbn13s),
    )
    return {r["isbn13"]: r for r in rows}
