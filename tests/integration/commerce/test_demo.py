"""The demo loader on a Book-Crossing subset: stages, idempotency, demo flags, background embedding."""

from __future__ import annotations

import gzip
from pathlib import Path

from memory.commerce.demo import DEMO_META_KEY, embed_catalog_batch, load_demo_catalog
from tests.integration.seed import REPO
from tools import catalog as c
from tools.deps import Deps


def _subset(tmp: Path, books: int = 2000) -> Path:
    d = tmp / "data" / "books"
    d.mkdir(parents=True)
    with gzip.open(REPO / "data/books/BX-Books.csv.gz", "rt", encoding="latin-1") as src:
        lines = [next(src) for _ in range(books + 1)]
    isbns = {ln.split('";"')[0].strip('"') for ln in lines[1:]}
    (d / "BX-Books.csv.gz").write_bytes(gzip.compress("".join(lines).encode("latin-1")))
    with gzip.open(REPO / "data/books/BX-Book-Ratings.csv.gz", "rt", encoding="latin-1") as src:
        head = next(src)
        kept = [ln for ln in src if ln.split('";"')[1] in isbns]
    (d / "BX-Book-Ratings.csv.gz").write_bytes(gzip.compress((head + "".join(kept)).encode("latin-1")))
    return tmp / "data"


async def test_demo_catalog_loads_once(deps: Deps, tmp_path: Path) -> None:
    data = _subset(tmp_path)
    seen: dict[str, tuple[int, int]] = {}

    def progress(stage: str, done: int, total: int) -> None:
        assert 0 <= done <= max(total, done)
        seen[stage] = (done, total)

    out = await load_demo_catalog(deps.db, deps.embedder, data, progress, embed_first=64)
    assert out["skipped"] is False and out["books"] >= 1990 and out["demo_prices"] is True
    assert out["embedded_sync"] == 64 and out["ratings"] > 1000
    assert {"books", "ratings", "also_liked", "embed"} <= set(seen)
    again = await load_demo_catalog(deps.db, deps.embedder, data, progress, embed_first=64)
    assert again["skipped"] is True and again["books"] == out["books"]
    meta = await deps.db.fetchrow("SELECT value FROM meta WHERE key = %s", DEMO_META_KEY)
    assert meta["value"]["version"] == 1
    # background embedding continues with the rest, most-rated first
    assert await embed_catalog_batch(deps.db, deps.embedder, 32) == 32
    n = await deps.db.fetchrow("SELECT count(*) AS n FROM book_embeddings")
    assert n["n"] == 96
    page = await c.search_books("the", page_size=3)
    assert page["demo_price"] is True and "demo" in page["note"]
    assert all(b["demo_price"] for b in page["results"])
