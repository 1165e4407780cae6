"""Pure catalog helpers: ISBN normalisation, money formatting, cleaning, demo prices, row validation."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from memory.commerce import BadRequest
from memory.commerce.catalog import format_cents, isbn13_to_10, normalize_isbn, to_public
from memory.commerce.importer import (
    ImportReport,
    _clean,
    _records,
    clean_text,
    demo_price_stock,
    detect_format,
)


@pytest.mark.parametrize(
    ("raw", "isbn13"),
    [
        ("0195153448", "9780195153446"),
        ("0-19-515344-8", "9780195153446"),
        ("978-0-19-515344-6", "9780195153446"),
        ("080442957x", "9780804429573"),
        ("ISBN: 080442957X", "9780804429573"),
        (" 9780306406157 ", "9780306406157"),
    ],
)
def test_normalize_isbn_accepts_isbn10_and_isbn13(raw: str, isbn13: str) -> None:
    assert normalize_isbn(raw) == isbn13


@pytest.mark.parametrize("raw", ["0195153449", "9780195153447"])
def test_bad_check_digit_is_refused(raw: str) -> None:
    with pytest.raises(BadRequest, match="check digit"):
        normalize_isbn(raw)


@pytest.mark.parametrize("raw", ["", "B00009ANY9", "12345", "97801951534461", "abc"])
def test_non_isbns_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest):
        normalize_isbn(raw)


def test_isbn13_to_10_roundtrip() -> None:
    assert isbn13_to_10("9780804429573") == "080442957X"
    assert isbn13_to_10("9791234567896") is None


def test_money_is_integer_cents() -> None:
    assert format_cents(1299) == "$12.99"
    assert format_cents(5) == "$0.05"
    price, stock = demo_price_stock("9780195153446")
    assert isinstance(price, int) and 499 <= price <= 3499 and price % 100 == 99
    assert (price, stock) == demo_price_stock("9780195153446"), "demo values must be deterministic"
    assert 0 <= stock <= 12


def test_clean_text_fixes_known_dirt() -> None:
    rep: Counter[str] = Counter()
    assert (
        clean_text("Barney &amp; Bj Go to the Police Station", rep) == "Barney & Bj Go to the Police Station"
    )
    assert clean_text("Krazy &amp;amp; Ignatz") == "Krazy & Ignatz"
    assert clean_text("GuÃ\xada del lector", rep) == "Guía del lector"
    assert (
        clean_text('DK Readers: Creating the X-Men (Level 4)"', rep)
        == "DK Readers: Creating the X-Men (Level 4)"
    )
    assert clean_text("  two   spaces\tand\ttabs ") == "two spaces and tabs"
    assert rep["html_entities"] == 1 and rep["mojibake"] == 1 and rep["stray_quote"] == 1


def _clean_one(rec: dict, lenient: bool = False) -> tuple[tuple | None, ImportReport]:
    rep = ImportReport(kind="books", format="csv")
    return _clean(rec, rep, 2, lenient), rep


def test_row_validation_reasons() -> None:
    ok = {
        "isbn": "0195153448",
        "title": "Classical Mythology",
        "author": "Mark P. O. Morford",
        "year": "2002",
        "price": "12.99",
        "stock": "3",
    }
    row, rep = _clean_one(ok)
    assert (
        row is not None and row[0] == "9780195153446" and row[8] == 1299 and row[9] == 3 and row[11] is False
    )
    cases = {
        "bad ISBN check digit": {**ok, "isbn": "0195153449"},
        "missing title": {**ok, "title": "  "},
        "year 0 or in the future": {**ok, "year": "0"},
        "bad year": {**ok, "year": "DK Publishing"},
        "negative price": {**ok, "price": "-1"},
        "negative stock": {**ok, "stock": "-2"},
        "missing ISBN": {**ok, "isbn": ""},
    }
    for reason, rec in cases.items():
        row, rep = _clean_one(rec)
        assert row is None and rep.reasons == {reason: 1}, (reason, rep.reasons)
    row, rep = _clean_one({**ok, "year": "2050"})
    assert row is None and rep.reasons == {"year 0 or in the future": 1}
    # Book-Crossing mode repairs unknown years instead of rejecting the book
    row, rep = _clean_one({**ok, "year": "0"}, lenient=True)
    assert row is not None and row[4] is None and rep.repaired["unknown_year"] == 1


def test_missing_price_gets_flagged_demo_values() -> None:
    row, _ = _clean_one({"isbn": "0195153448", "title": "T"})
    assert row is not None
    assert (row[8], row[9]) == demo_price_stock("9780195153446") and row[11] is True


def test_price_never_goes_through_float() -> None:
    row, _ = _clean_one({"isbn": "0195153448", "title": "T", "price": "0.29", "stock": 1})
    assert row is not None and row[8] == 29  # float(0.29) * 100 would give 28.999...
    row, rep = _clean_one({"isbn": "0195153448", "title": "T", "price": "1.999", "stock": 1})
    assert row is None and "decimals" in next(iter(rep.reasons))


def test_csv_shifted_columns_are_rejected(tmp_path: Path) -> None:
    p = tmp_path / "books.csv"
    p.write_text(
        "isbn,title,author,year,price,stock\n"
        "0195153448,Classical Mythology,Mark Morford,2002,12.99,3\n"
        "0002005018,Clara Callan,Richard Bruce Wright,extra,2001,9.99,1\n",
        encoding="utf-8",
    )
    rep = ImportReport(kind="books", format="csv")
    recs = list(_records(p, "csv", rep))
    assert len(recs) == 1 and rep.reasons == {"shifted columns": 1}


def test_bx_format_is_detected_and_parsed(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[3] / "data/books/BX-Books.csv.gz"
    with gzip.open(src, "rt", encoding="latin-1") as fh:
        head = [next(fh) for _ in range(30)]
    p = tmp_path / "bx.csv"
    p.write_text("".join(head), encoding="latin-1")
    assert detect_format(p) == "bx"
    rep = ImportReport(kind="books", format="bx")
    recs = list(_records(p, "bx", rep))
    assert len(recs) == 29 and recs[0][1]["isbn"] == "0195153448"
    assert recs[0][1]["title"] == "Classical Mythology"


def test_public_book_always_carries_demo_flag() -> None:
    row = {
        "isbn13": "9780195153446",
        "title": "T",
        "author": "A",
        "price_cents": 1299,
        "stock": 0,
        "demo": True,
    }
    out = to_public(row)
    assert (
        out["demo_price"] is True
        and out["in_stock"] is False
        and out["price_display"].endswith("(demo price)")
    )
