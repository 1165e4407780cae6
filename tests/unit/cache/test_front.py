"""CacheFront, cache_partition and make_cache without services (fake backend and embedder)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from memory.cache import DEFAULT_THRESHOLD, cache_partition, make_cache
from memory.cache.base import CacheEntry
from memory.cache.semantic import CacheFront, CacheVersions
from memory.settings import MissingExtra, Settings


class FakeEmbedder:
    def __init__(self) -> None:
        self.calls = 0

    def embed_one(self, text: str) -> np.ndarray:
        self.calls += 1
        v = np.zeros(384, dtype=np.float32)
        v[hash(text.lower()) % 384] = 1.0
        return v


class FakeBackend:
    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.rows: dict[str, tuple[str, str, dict[str, Any], list[str]]] = {}
        self.fail = fail
        self.threshold = DEFAULT_THRESHOLD

    async def lookup(self, vector: np.ndarray, question: str, partition: str) -> CacheEntry | None:
        if self.fail:
            raise ConnectionError("down")
        for eid, (q, p, reply, chunks) in self.rows.items():
            if p == partition and q.lower() == question.lower():
                return CacheEntry(eid, q, reply, 1.0, chunks)
        return None

    async def store(
        self,
        vector: np.ndarray,
        question: str,
        partition: str,
        reply: dict[str, Any],
        chunk_ids: Sequence[str],
        ttl_s: int,
    ) -> str:
        if self.fail:
            raise ConnectionError("down")
        eid = f"e{len(self.rows)}"
        self.rows[eid] = (question, partition, reply, list(chunk_ids))
        return eid

    async def invalidate_chunks(self, chunk_ids: Sequence[str]) -> int:
        gone = [e for e, r in self.rows.items() if set(r[3]) & set(chunk_ids)]
        for e in gone:
            del self.rows[e]
        return len(gone)

    async def invalidate_entry(self, entry_id: str) -> int:
        return 1 if self.rows.pop(entry_id, None) else 0


def test_partition_key() -> None:
    assert cache_partition(["public", "internal"], 7, 3) == "internal,public|c7|k3"
    assert cache_partition(("internal", "public", "public"), 7, 3) == cache_partition(
        ["public", "internal"], 7, 3
    )
    assert cache_partition(["public"], 7, 3) != cache_partition(["public"], 8, 3)
    assert cache_partition(["public"], 7, 3) != cache_partition(["public"], 7, 4)
    assert cache_partition(["public", "group:a"], 1, 1) != cache_partition(["public", "group:b"], 1, 1)
    with pytest.raises(ValueError):
        cache_partition([], 1, 1)
    with pytest.raises(ValueError):
        cache_partition(["public|c9"], 1, 1)


async def test_front_round_trip_and_counters() -> None:
    emb, be = FakeEmbedder(), FakeBackend()
    front = CacheFront(be, emb)  # type: ignore[arg-type]
    eid = await front.store(
        "  How do I   return a book? ", ["public"], CacheVersions(1, 2), {"answer": "x"}, [5]
    )
    assert eid == "e0" and be.rows["e0"][0] == "How do I return a book?" and be.rows["e0"][3] == ["5"]
    hit = await front.lookup("How do I return a book?", ["public"], {"corpus": 1, "catalog": 2})
    assert hit is not None and hit.reply == {"answer": "x"}
    assert await front.lookup("How do I return a book?", ["public"], (2, 2)) is None
    assert front.stats.hits == 1 and front.stats.misses == 1 and front.stats.stores == 1
    assert emb.calls == 1, "the question vector is reused from the LRU"
    assert await front.invalidate_chunks([5]) == 1


async def test_entries_of_another_embedding_variant_never_match() -> None:
    be = FakeBackend()
    fp32, int8 = FakeEmbedder(), FakeEmbedder()
    int8.variant = "int8"  # type: ignore[attr-defined]
    await CacheFront(be, fp32).store("Can I return a book?", ["public"], (1, 1), {"answer": "x"}, [])  # type: ignore[arg-type]
    front8 = CacheFront(be, int8)  # type: ignore[arg-type]
    assert front8.partition(["public"], (1, 1)) == "public|c1|k1|eint8"
    assert await front8.lookup("Can I return a book?", ["public"], (1, 1)) is None
    assert await CacheFront(be, fp32).lookup("Can I return a book?", ["public"], (1, 1)) is not None  # type: ignore[arg-type]


async def test_front_backend_failure_is_a_miss() -> None:
    front = CacheFront(FakeBackend(fail=True), FakeEmbedder())  # type: ignore[arg-type]
    assert await front.lookup("q", ["public"], (1, 1)) is None
    assert await front.store("q", ["public"], (1, 1), {}, []) is None
    assert front.stats.errors == 2


async def test_front_skips_empty_and_huge_questions() -> None:
    front = CacheFront(FakeBackend(), FakeEmbedder())  # type: ignore[arg-type]
    assert await front.lookup("   ", ["public"], (1, 1)) is None
    assert await front.store("x" * 5000, ["public"], (1, 1), {}, []) is None
    assert front.stats.skipped == 2


def _settings(tmp_path: Any, **kw: Any) -> Settings:
    return Settings(home=tmp_path, _env_file=None, **kw)  # type: ignore[call-arg]


def test_make_cache_off_and_errors(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_cache(_settings(tmp_path, cache="off"), None) is None
    with pytest.raises(ValueError, match="database"):
        make_cache(_settings(tmp_path, cache="pgvector"), None)
    with pytest.raises(ValueError, match="LIBROMIND_REDIS_URL"):
        make_cache(_settings(tmp_path, cache="redis"), None)
    monkeypatch.setitem(sys.modules, "redisvl", None)
    with pytest.raises(MissingExtra, match=r"libromind\[redis\]"):
        make_cache(_settings(tmp_path, cache="redis", redis_url="redis://x"), None)
