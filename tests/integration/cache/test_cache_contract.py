"""The semantic-cache contract, run against every backend (pgvector, redis)."""

from __future__ import annotations

import asyncio

from memory.cache.base import SemanticCache
from memory.cache.semantic import CacheFront, CacheVersions
from memory.principals import Principal

PUBLIC = Principal.parse("customer:alice").scopes
STAFF = Principal.parse("employee:bob").scopes
V1 = CacheVersions(corpus=1, catalog=1)
REPLY = {
    "answer": "Books can be returned within 30 days.",
    "citations": [{"source": "returns.md", "chunk_id": "11"}],
}


async def test_is_a_semantic_cache(cache_backend: object) -> None:
    assert isinstance(cache_backend, SemanticCache)


async def test_store_then_exact_and_paraphrase_hit(front: CacheFront) -> None:
    entry_id = await front.store("How do I return a book?", PUBLIC, V1, REPLY, ["11", "12"])
    assert entry_id
    hit = await front.lookup("How do I return a book?", PUBLIC, V1)
    assert hit is not None and hit.reply == REPLY and hit.entry_id == entry_id
    assert sorted(hit.chunk_ids) == ["11", "12"] and hit.similarity > 0.99
    para = await front.lookup("how can I return a book", PUBLIC, V1)
    assert para is not None and para.entry_id == entry_id


async def test_unrelated_question_misses(front: CacheFront) -> None:
    await front.store("How do I return a book?", PUBLIC, V1, REPLY, ["11"])
    assert await front.lookup("Do you sell gift cards?", PUBLIC, V1) is None
    assert front.stats.misses == 1


async def test_partitioned_by_scopes_and_versions(front: CacheFront) -> None:
    await front.store("What is the staff discount?", STAFF, V1, REPLY, ["21"])
    assert await front.lookup("What is the staff discount?", STAFF, V1) is not None
    assert await front.lookup("What is the staff discount?", PUBLIC, V1) is None, "other ACL scopes"
    assert await front.lookup("What is the staff discount?", STAFF, CacheVersions(2, 1)) is None, (
        "corpus version"
    )
    assert await front.lookup("What is the staff discount?", STAFF, (1, 2)) is None, "catalog version"


async def test_near_miss_guard_rejects_negation_and_names(front: CacheFront) -> None:
    await front.store("Must the preinst script exit with status 0?", PUBLIC, V1, REPLY, ["31"])
    assert await front.lookup("Must the preinst script exit with status 0?", PUBLIC, V1) is not None
    assert await front.lookup("Must the postinst script exit with status 0?", PUBLIC, V1) is None
    assert await front.lookup("Must the preinst script not exit with status 0?", PUBLIC, V1) is None
    assert await front.lookup("Must the preinst script exit with status 1?", PUBLIC, V1) is None


async def test_picks_a_guard_compatible_candidate(front: CacheFront) -> None:
    a = await front.store(
        "Which books did Terry Pratchett write?", PUBLIC, V1, {"answer": "pratchett"}, ["1"]
    )
    b = await front.store("Which books did Neil Gaiman write?", PUBLIC, V1, {"answer": "gaiman"}, ["2"])
    hit = await front.lookup("Which books were written by Neil Gaiman?", PUBLIC, V1)
    assert hit is not None and hit.entry_id == b and hit.entry_id != a


async def test_invalidate_chunks(front: CacheFront) -> None:
    e1 = await front.store("How do I return a book?", PUBLIC, V1, REPLY, ["11", "12"])
    e2 = await front.store("Do you ship to Canada?", PUBLIC, V1, {"answer": "yes"}, ["40"])
    assert e1 and e2
    assert await front.invalidate_chunks(["12", "999"]) == 1
    assert await front.lookup("How do I return a book?", PUBLIC, V1) is None
    assert await front.lookup("Do you ship to Canada?", PUBLIC, V1) is not None
    assert await front.invalidate_chunks([]) == 0


async def test_invalidate_entry_on_thumbs_down(front: CacheFront) -> None:
    e1 = await front.store("How do I return a book?", PUBLIC, V1, REPLY, ["11"])
    assert e1 is not None
    assert await front.invalidate_entry(e1) == 1
    assert await front.lookup("How do I return a book?", PUBLIC, V1) is None
    assert await front.invalidate_entry(e1) == 0
    assert await front.invalidate_entry("not-an-id") == 0


async def test_ttl_expires(front: CacheFront) -> None:
    await front.store("How do I return a book?", PUBLIC, V1, REPLY, ["11"], ttl_s=1)
    assert await front.lookup("How do I return a book?", PUBLIC, V1) is not None
    await asyncio.sleep(2.1)
    assert await front.lookup("How do I return a book?", PUBLIC, V1) is None


async def test_unicode_and_special_chunk_ids(front: CacheFront) -> None:
    ids = ["doc:1#2", "a,b|c", "ünï-{x}"]
    await front.store("Wie kann ich ein Buch zurückgeben?", PUBLIC, V1, {"answer": "ja — 30 Tage"}, ids)
    hit = await front.lookup("Wie kann ich ein Buch zurückgeben?", PUBLIC, V1)
    assert hit is not None and hit.reply["answer"] == "ja — 30 Tage" and sorted(hit.chunk_ids) == sorted(ids)
    assert await front.invalidate_chunks(["a,b|c"]) == 1


async def test_pgvector_counts_hits(cache_backend: object, front: CacheFront) -> None:
    if getattr(cache_backend, "name", "") != "pgvector":
        return  # redis: hits are counted by CacheFront.stats only (no per-key counter, see RedisCache)
    eid = await front.store("How do I return a book?", PUBLIC, V1, REPLY, ["11"])
    assert await front.lookup("How do I return a book?", PUBLIC, V1) is not None
    await front.aclose()  # waits for the background counter update
    row = await cache_backend.db.fetchrow("SELECT hits FROM cache_entries WHERE id = %s", eid)  # type: ignore[attr-defined]
    assert row is not None and row["hits"] == 1
