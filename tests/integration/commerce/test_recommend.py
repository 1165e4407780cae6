"""Recommendations: collaborative filtering over ratings (with reasons) and semantic "similar"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memory.commerce.recommend import compute_also_liked, embed_catalog_batch, import_ratings
from tools import catalog as c
from tools.errors import InvalidInput, NotFound


def _ratings(path: Path, rows: list[tuple[int, str, int]]) -> Path:
    lines = ['"User-ID";"ISBN";"Book-Rating"'] + [f'"{u}";"{i}";"{r}"' for u, i, r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


async def test_also_liked_with_reasons(shop: dict[str, Any], tmp_path: Path) -> None:
    db = shop["deps"].db
    myth, flu, clara, mummies = "0195153448", "0374157065", "0002005018", "0393045218"
    rows: list[tuple[int, str, int]] = []
    for u in range(12):  # 12 readers loved both Mythology and Flu
        rows += [(u, myth, 9), (u, flu, 8)]
    for u in range(12, 16):  # 4 more read Mythology and Clara (implicit)
        rows += [(u, myth, 0), (u, clara, 0)]
    for u in range(16, 30):
        rows += [(u, clara, 7), (u, mummies, 3), (u, "9999999999", 5)]
    rows += [(1, "B00009ANY9", 5), (1, myth, 10)]  # a bad ISBN, and a later duplicate rating
    rep = await import_ratings(db, _ratings(tmp_path / "r.csv", rows), recompute=False)
    assert rep.format == "bx" and rep.inserted == 24 + 8 + 28
    assert rep.reasons["invalid ISBN"] == 1 and rep.reasons["ISBN not in catalog"] == 14
    assert rep.reasons["duplicate rating (last one kept)"] == 1
    stats = await compute_also_liked(db, min_count=2, min_co=2)
    assert stats["pairs"] > 0
    recs = await c.recommend("978-0-19-515344-6", "also_liked", 5)
    assert [r["isbn"] for r in recs][:2] == ["9780374157067", "9780002005012"]
    assert recs[0]["reason"].startswith(
        "12 readers who rated “Classical Mythology” highly also rated this highly"
    )
    assert recs[1]["reason"].startswith("4 readers who liked or read “Classical Mythology”")
    book = await c.get_book(myth)
    assert book["rating_count"] == 16 and book["rating_avg"] == pytest.approx((11 * 9 + 10) / 12, abs=0.01)


async def test_similar_is_semantic_and_explained(shop: dict[str, Any]) -> None:
    deps = shop["deps"]
    assert await embed_catalog_batch(deps.db, deps.embedder, 100) == 5
    assert await embed_catalog_batch(deps.db, deps.embedder, 100) == 0
    recs = await c.recommend("0374157065", "similar", 3)  # Flu
    assert len(recs) == 3 and all(
        r["kind"] == "similar" and "semantic similarity" in r["reason"] for r in recs
    )
    assert "9780374157067" not in [r["isbn"] for r in recs]
    fallback = await c.recommend("0374157065", "also_liked", 2)  # no ratings yet: similar, said so
    assert fallback and fallback[0]["reason"].startswith("No reader ratings")
    with pytest.raises(NotFound):
        await c.recommend("9780306406157")
    with pytest.raises(InvalidInput):
        await c.recommend("0374157065", k=0)
