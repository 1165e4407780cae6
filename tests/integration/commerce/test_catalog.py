"""Catalog import, search, get_book and match_books against a real PostgreSQL (a Book-Crossing subset)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from memory.commerce.importer import import_books
from tests.integration.commerce.conftest import write_books_csv
from tests.integration.seed import write_bx_subset
from tools import catalog as c
from tools.deps import Deps
from tools.errors import InvalidInput, NotFound


@pytest.fixture
async def bx(deps: Deps, tmp_path: Path) -> dict[str, Any]:
    src = write_bx_subset(tmp_path / "bx.csv", 3000)
    gz = tmp_path / "bx.csv.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    report = await import_books(deps.db, gz, "bx")
    return report.to_dict()


async def test_bx_import_cleans_known_dirt(bx: dict[str, Any], deps: Deps) -> None:
    assert bx["format"] == "bx" and bx["inserted"] > 2900
    assert bx["repaired"]["html_entities"] > 0 and bx["repaired"]["unknown_year"] > 0
    row = await deps.db.fetchrow("SELECT count(*) AS n FROM books WHERE title LIKE '%%&amp;%%'")
    assert row["n"] == 0
    row = await deps.db.fetchrow("SELECT count(*) AS n FROM books WHERE year = 0 OR year > 2026")
    assert row["n"] == 0
    book = await c.get_book("0195153448")
    assert book["title"] == "Classical Mythology" and book["demo_price"] is True
    assert isinstance(book["price_cents"], int) and book["price_display"].endswith("(demo price)")


async def test_reimport_is_an_idempotent_upsert(deps: Deps, tmp_path: Path) -> None:
    p = write_books_csv(tmp_path / "b.csv")
    first = await import_books(deps.db, p)
    again = await import_books(deps.db, p)
    assert first.inserted == 5 and again.inserted == 0 and again.updated == 0 and again.unchanged == 5
    p.write_text(p.read_text().replace("12.99", "13.49"), encoding="utf-8")
    changed = await import_books(deps.db, p)
    assert changed.updated == 1 and (await c.get_book("9780195153446"))["price_cents"] == 1349


async def test_csv_and_jsonl_rejections_are_reported(deps: Deps, tmp_path: Path) -> None:
    rows = [
        {
            "isbn": "0195153448",
            "title": "Classical Mythology",
            "author": "M",
            "year": 2002,
            "price": "12.99",
            "stock": 2,
            "genres": ["myth", "history"],
            "description": "Gods &amp; heroes",
        },
        {"isbn": "0195153449", "title": "Bad check digit"},
        {"isbn": "0002005018", "title": ""},
        {"isbn": "0060973129", "title": "Year zero", "year": 0},
        {"isbn": "0374157065", "title": "From the future", "year": 2999},
        {"isbn": "0393045218", "title": "Negative", "price": "-3.00"},
    ]
    p = tmp_path / "b.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    rep = (await import_books(deps.db, p)).to_dict()
    assert rep["format"] == "jsonl" and rep["inserted"] == 1 and rep["rejected"] == 6
    assert rep["reasons"] == {
        "bad ISBN check digit": 1,
        "missing title": 1,
        "year 0 or in the future": 2,
        "negative price": 1,
        "invalid JSON": 1,
    }
    assert {e["line"] for e in rep["examples"]} == {2, 3, 4, 5, 6, 7}
    book = await c.get_book("978-0-19-515344-6")
    assert book["genres"] == ["myth", "history"] and book["description"] == "Gods & heroes"
    assert book["demo_price"] is False and book["price_cents"] == 1299


async def test_search_fuzzy_title_author_and_filters(bx: dict[str, Any]) -> None:
    r = await c.search_books("Classical Mythology")
    assert r["results"][0]["isbn"] == "9780195153446"
    r = await c.search_books("clasical mytholgy")  # typos
    assert "9780195153446" in [b["isbn"] for b in r["results"]]
    r = await c.search_books("Morford")  # author words
    assert "9780195153446" in [b["isbn"] for b in r["results"]]
    r = await c.search_books(author="grisham", sort="year", page_size=50)
    assert r["total"] >= 2 and all("grisham" in b["author"].lower() for b in r["results"])
    years = [b["year"] for b in r["results"] if b["year"]]
    assert years == sorted(years, reverse=True)
    r = await c.search_books(
        year_min=1990,
        year_max=1995,
        price_min_cents=1000,
        price_max_cents=1500,
        in_stock=True,
        sort="price",
        page_size=20,
    )
    prices = [b["price_cents"] for b in r["results"]]
    assert r["results"] and prices == sorted(prices)
    assert all(
        1990 <= b["year"] <= 1995 and 1000 <= b["price_cents"] <= 1500 and b["in_stock"] for b in r["results"]
    )
    r = await c.search_books(in_stock=False, page_size=5)
    assert all(b["stock"] == 0 for b in r["results"])
    r = await c.search_books(publisher="penguin", page_size=5)
    assert r["results"] and all("penguin" in b["publisher"].lower() for b in r["results"])
    assert r["demo_price"] is True and "demo" in r["note"]


async def test_pagination_is_stable(bx: dict[str, Any]) -> None:
    p1 = await c.search_books(sort="title", page=1, page_size=10)
    p2 = await c.search_books(sort="title", page=2, page_size=10)
    assert p1["total"] == p2["total"] == 1000 and p1["total_is_lower_bound"]
    assert not {b["isbn"] for b in p1["results"]} & {b["isbn"] for b in p2["results"]}
    titles = [b["title"].lower() for b in p1["results"] + p2["results"]]
    assert titles == sorted(titles)
    q1 = await c.search_books("love", page=1, page_size=5)
    q2 = await c.search_books("love", page=2, page_size=5)
    assert not {b["isbn"] for b in q1["results"]} & {b["isbn"] for b in q2["results"]}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"page": 0}, "page"),
        ({"page_size": 500}, "page_size"),
        ({"sort": "rating"}, "sort"),
        ({"year_min": "1990"}, "year_min"),
    ],
)
async def test_bad_search_arguments(bx: dict[str, Any], kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        await c.search_books("x", **kwargs)


async def test_get_book_normalizes_isbn(bx: dict[str, Any]) -> None:
    a = await c.get_book("0195153448")
    b = await c.get_book("978-0-19-515344-6")
    assert a == b and a["isbn10"] == "0195153448"
    with pytest.raises(NotFound, match="No book with ISBN"):
        await c.get_book("9780306406157")
    with pytest.raises(InvalidInput):
        await c.get_book("not-an-isbn")


async def test_match_books_finds_mentions(bx: dict[str, Any]) -> None:
    found = await c.match_books("Do you have Classical Mythology in stock? And what about 0-00-200501-8?")
    assert [b["isbn"] for b in found][:2] == ["9780002005012", "9780195153446"]
    assert found[0]["match"] == "isbn" and found[1]["match"] == "title"
    assert await c.match_books("hello, what are your opening hours?") == []
