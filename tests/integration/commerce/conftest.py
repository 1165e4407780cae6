"""A small real catalog in a fresh migrated database: a few priced books (CSV) for order tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from memory.commerce.importer import import_books
from memory.principals import Principal
from tools.deps import Deps

# isbn10, title, author, year, publisher, price, stock
BOOKS = [
    ("0195153448", "Classical Mythology", "Mark P. O. Morford", 2002, "Oxford University Press", "12.99", 5),
    ("0002005018", "Clara Callan", "Richard Bruce Wright", 2001, "HarperFlamingo Canada", "9.99", 1),
    ("0060973129", "Decision in Normandy", "Carlo D'Este", 1991, "HarperPerennial", "15.00", 0),
    (
        "0374157065",
        "Flu: The Story of the Great Influenza Pandemic of 1918",
        "Gina Bari Kolata",
        1999,
        "Farrar Straus Giroux",
        "20.00",
        100,
    ),
    (
        "0393045218",
        "The Mummies of Urumchi",
        "E. J. W. Barber",
        1999,
        "W. W. Norton &amp; Company",
        "27.50",
        3,
    ),
]
ISBN13 = {
    "mythology": "9780195153446",
    "clara": "9780002005012",
    "normandy": "9780060973124",
    "flu": "9780374157067",
    "mummies": "9780393045215",
}


def write_books_csv(path: Path) -> Path:
    lines = ["isbn,title,author,year,publisher,price,stock"]
    for isbn, title, author, year, pub, price, stock in BOOKS:
        lines.append(f'{isbn},"{title}","{author}",{year},"{pub}",{price},{stock}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def shop(deps: Deps, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    report = await import_books(deps.db, write_books_csv(tmp_path / "books.csv"))
    assert report.inserted == len(BOOKS), report.to_dict()
    yield {"deps": deps, "isbn": ISBN13}


@pytest.fixture
def alice() -> Principal:
    return Principal.parse("customer:alice")


@pytest.fixture
def bob() -> Principal:
    return Principal.parse("customer:bob")
