"""Catalog search tiers against a real PostgreSQL: typos, whole titles, the most-read books, filters,
the catalog-wide fuzzy scan only when needed, and match_books on short-word titles."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memory.commerce.catalog import search as S
from memory.commerce.importer import import_books, refresh_hot
from tests.integration.seed import write_bx_subset
from tools import catalog as c
from tools.deps import Deps


def _isbn10(n: int) -> str:
    d9 = f"{n:09d}"
    r = (11 - sum(int(d) * w for d, w in zip(d9, range(10, 1, -1), strict=True)) % 11) % 11
    return d9 + ("X" if r == 10 else str(r))


@pytest.fixture
async def bx(deps: Deps, tmp_path: Path) -> dict[str, Any]:
    """The first 3,000 Book-Crossing books (no ratings: no most-read table)."""
    src = write_bx_subset(tmp_path / "bx.csv", 3000)
    gz = tmp_path / "bx.csv.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    return (await import_books(deps.db, gz, "bx")).to_dict()


async def _make_hot(deps: Deps, counts: dict[str, int]) -> None:
    """Give these titles ratings (one count per title) and rebuild the most-read table."""
    for title, n in counts.items():
        await deps.db.execute(
            "INSERT INTO book_stats (isbn13, rating_count) SELECT isbn13, %s FROM books WHERE title = %s"
            " ON CONFLICT (isbn13) DO UPDATE SET rating_count = excluded.rating_count",
            n,
            title,
        )
    async with deps.db.pool.connection() as conn:
        await refresh_hot(conn)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement the search runs."""
    seen: list[str] = []
    real = S.fetch

    async def spy(db: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        seen.append(sql)
        return await real(db, sql, params)

    monkeypatch.setattr(S, "fetch", spy)
    yield seen


def _catalog_fuzzy_ran(statements: list[str]) -> bool:
    return any("<%% b.title" in sql for sql in statements)


def _titles(res: dict[str, Any]) -> list[str]:
    return [b["title"] for b in res["results"]]


async def test_one_misspelt_word_among_several_is_found_without_the_catalog_wide_scan(
    bx: dict[str, Any], statements: list[str]
) -> None:
    r = await c.search_books("Seabiscuit: An Amercian Legend")
    assert _titles(r)[0] == "Seabiscuit: An American Legend"
    assert not _catalog_fuzzy_ran(statements)
    statements.clear()
    r = await c.search_books("To Kill aMockingbird")  # a dropped space merges two words
    assert _titles(r)[0] == "To Kill a Mockingbird"
    assert not _catalog_fuzzy_ran(statements)


async def test_misspelt_author_is_found(bx: dict[str, Any]) -> None:
    r = await c.search_books("Barbara Kingsovler")
    assert r["results"] and r["results"][0]["author"] == "Barbara Kingsolver"


async def test_a_single_misspelt_word_falls_back_to_the_trigram_scan(
    bx: dict[str, Any], statements: list[str]
) -> None:
    r = await c.search_books("Seabiscut")
    assert "Seabiscuit" in _titles(r)[:3] or "Seabiscuit: An American Legend" in _titles(r)[:3]
    assert _catalog_fuzzy_ran(statements)


async def test_the_most_read_books_answer_a_typo_first(
    bx: dict[str, Any], deps: Deps, statements: list[str]
) -> None:
    await _make_hot(deps, {"Seabiscuit: An American Legend": 120, "To Kill a Mockingbird": 300})
    r = await c.search_books("Seabiscut")
    assert _titles(r)[0] == "Seabiscuit: An American Legend"
    assert not _catalog_fuzzy_ran(statements)  # found among the most-read books


async def test_correct_words_never_reach_the_fuzzy_tiers(bx: dict[str, Any], statements: list[str]) -> None:
    for q in ("To Kill a Mockingbird", "Barbara Kingsolver", "Stephen King", "witch"):
        statements.clear()
        r = await c.search_books(q)
        assert r["results"], q
        assert not any("<%%" in sql for sql in statements), q


async def test_whole_title_match_ranks_first(bx: dict[str, Any], deps: Deps) -> None:
    others = [t for t in (await _danger_titles(deps)) if t.lower() != "danger"]
    assert others, "the subset holds other titles with 'Danger'"
    await _make_hot(deps, {t: 500 for t in others})  # all more read than the book called "Danger"
    r = await c.search_books("danger")
    assert _titles(r)[0] == "Danger"
    assert set(others) <= set(_titles(r))


async def _danger_titles(deps: Deps) -> list[str]:
    rows = await deps.db.fetch("SELECT DISTINCT title FROM books WHERE title ILIKE '%%danger%%'")
    return [r["title"] for r in rows]


async def test_filters_hold_in_every_tier(bx: dict[str, Any]) -> None:
    for q in ("Seabiscut", "Seabiscuit: An Amercian Legend", "witch", "Barbara Kingsovler"):
        r = await c.search_books(q, in_stock=True, price_max_cents=2999, page_size=50)
        assert all(b["in_stock"] and b["price_cents"] <= 2999 for b in r["results"]), q
        r = await c.search_books(q, year_min=1995, page_size=50)
        assert all(b["year"] is not None and b["year"] >= 1995 for b in r["results"]), q


async def test_sorted_text_search_orders_exactly(bx: dict[str, Any]) -> None:
    r = await c.search_books("witch", sort="price", page_size=50)
    prices = [b["price_cents"] for b in r["results"]]
    assert r["results"] and prices == sorted(prices)
    r = await c.search_books("Seabiscut", sort="year", page_size=50)  # no substring match: fuzzy
    years = [b["year"] for b in r["results"] if b["year"] is not None]
    assert r["results"] and years == sorted(years, reverse=True)


async def test_migration_keeps_the_hot_table_indexes_merged(deps: Deps) -> None:
    rows = await deps.db.fetch(
        "SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relname IN"
        " ('book_search_hot_title_trgm', 'book_search_hot_author_trgm')"
    )
    assert {r["relname"]: r["reloptions"] for r in rows} == {
        "book_search_hot_title_trgm": ["gin_pending_list_limit=64"],
        "book_search_hot_author_trgm": ["gin_pending_list_limit=64"],
    }
    idx = {r["indexname"] for r in await deps.db.fetch("SELECT indexname FROM pg_indexes")}
    assert {"books_price_isbn", "books_year_isbn", "book_stats_popular_isbn"} <= idx
    assert not {"books_price", "books_year", "book_stats_popular"} & idx


SHORT_WORDS = [
    ("Life of Pi", "Yann Martel"),
    ("LIFE Legends : The Century's Most Unforgettable Faces", "LIFE"),
    ("Pope John Paul II : A Tribute", "LIFE"),
    ("The Green Mile", "Stephen King"),
    ("Stephen King (Classics Series)", "Michael Collings"),
]


async def test_match_books_finds_short_word_titles_and_no_stray_one_word_authors(
    deps: Deps, tmp_path: Path
) -> None:
    p = tmp_path / "books.csv"
    lines = ["isbn,title,author,year,publisher,price,stock"]
    for k, (title, author) in enumerate(SHORT_WORDS):
        lines.append(f'{_isbn10(155000 + k)},"{title}","{author}",2001,"P",9.99,3')
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert (await import_books(deps.db, p)).inserted == len(SHORT_WORDS)
    found = await c.match_books("Do you have Life of Pi?")
    assert [b["title"] for b in found] == ["Life of Pi"] and found[0]["match"] == "title"
    found = await c.match_books("anything by Stephen King?")
    assert "The Green Mile" in [b["title"] for b in found]  # a two-word author is still matched
