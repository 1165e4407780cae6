"""Semantic cache in Redis with the query engine, through redisvl's ``SemanticCache``.

Needs ``libromind[redis]`` (redis + redisvl) and a Redis that has the search module (Redis 8 with
the query engine, Redis Stack, or ``redis-server --loadmodule redisearch.so``).

- Partitions and cited chunks are **tag fields** (``partition``, ``chunk_tags``) registered as
  redisvl ``filterable_fields``; lookups filter on the partition tag inside the vector query.
  Tag values are digests (tag-safe whatever the scopes or chunk ids contain).
- Vectors are always computed by our :class:`~memory.documents.embed.Embedder` and passed in;
  redisvl gets :class:`EmbedderVectorizer` (its default vectorizer would download a model).
- TTL is the Redis key expiry set at store time; a hit does not extend it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import PrivateAttr
from redisvl.extensions.cache.llm import SemanticCache as RedisVLSemanticCache
from redisvl.query import FilterQuery
from redisvl.query.filter import Tag
from redisvl.utils.vectorize.base import BaseVectorizer

from memory.cache import partition_tag
from memory.cache.base import CacheEntry
from memory.cache.guard import GuardConfig, pick
from memory.documents.embed import DIM

if TYPE_CHECKING:
    from memory.documents.embed import Embedder

__all__ = ["EmbedderVectorizer", "RedisCache", "chunk_tag"]

log = logging.getLogger(__name__)
DEFAULT_INDEX = "libromind-cache"


def chunk_tag(chunk_id: str) -> str:
    return "c" + hashlib.sha256(str(chunk_id).encode()).hexdigest()[:24]


class EmbedderVectorizer(BaseVectorizer):
    """A redisvl vectorizer over our offline MiniLM embedder (loaded lazily, never downloaded)."""

    _embedder: Any = PrivateAttr(default=None)

    def __init__(self, embedder: Embedder | None = None, **kwargs: Any) -> None:
        super().__init__(model="all-MiniLM-L6-v2", dims=DIM, dtype="float32", **kwargs)
        self._embedder = embedder

    def _get(self) -> Embedder:
        if self._embedder is None:
            from memory.documents.embed import get_embedder

            self._embedder = get_embedder()
        return self._embedder

    @property
    def type(self) -> str:
        return "custom"

    def _embed(self, content: Any, **kwargs: Any) -> list[float]:
        return [float(x) for x in self._get().embed_one(str(content))]

    def _embed_many(self, contents: list[Any], batch_size: int = 10, **kwargs: Any) -> list[list[float]]:
        return self._get().embed([str(c) for c in contents], batch_size=batch_size).tolist()


class RedisCache:
    """redisvl ``SemanticCache`` with partition and chunk tags; lookup + the near-miss guard."""

    name = "redis"

    def __init__(
        self,
        redis_url: str,
        *,
        index_name: str = DEFAULT_INDEX,
        embedder: Embedder | None = None,
        threshold: float | None = None,
        guard: GuardConfig | None = None,
        candidates: int = 4,
        overwrite: bool = False,
    ) -> None:
        from memory.cache import DEFAULT_THRESHOLD

        self.threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        self.guard = guard or GuardConfig()
        self.candidates = candidates
        self._cache = RedisVLSemanticCache(
            name=index_name,
            redis_url=redis_url,
            vectorizer=EmbedderVectorizer(embedder),
            distance_threshold=min(2.0, max(0.0, 1.0 - self.threshold)),
            filterable_fields=[
                {"name": "partition", "type": "tag"},
                {"name": "chunk_tags", "type": "tag", "attrs": {"separator": ","}},
            ],
            overwrite=overwrite,
        )
        self._prefix = index_name

    @property
    def semantic_cache(self) -> RedisVLSemanticCache:
        return self._cache

    async def search(
        self, vector: np.ndarray, partition: str, k: int, min_similarity: float
    ) -> list[CacheEntry]:
        hits = await self._cache.acheck(
            vector=[float(x) for x in np.asarray(vector, dtype=np.float32)],
            num_results=k,
            filter_expression=Tag("partition") == partition_tag(partition),
            distance_threshold=min(2.0, max(0.0, 1.0 - min_similarity)),
        )
        out = []
        for h in hits:
            meta = h.get("metadata") or {}
            try:
                reply = json.loads(h["response"])
            except (TypeError, ValueError):
                continue
            out.append(
                CacheEntry(
                    entry_id=h["key"],
                    question=h["prompt"],
                    reply=reply,
                    similarity=1.0 - float(h["vector_distance"]),
                    chunk_ids=list(meta.get("chunk_ids", [])),
                )
            )
        out.sort(key=lambda e: -e.similarity)
        return out

    async def lookup(self, vector: np.ndarray, question: str, partition: str) -> CacheEntry | None:
        found = await self.search(vector, partition, self.candidates, self.threshold)
        entry: CacheEntry | None = pick([(e.question, e) for e in found], question, self.guard)
        # No per-entry hit counter here: HINCRBY on a key that expired meanwhile would recreate it
        # without a TTL. Hits are counted by CacheFront.stats.
        return entry

    async def store(
        self,
        vector: np.ndarray,
        question: str,
        partition: str,
        reply: dict[str, Any],
        chunk_ids: Sequence[str],
        ttl_s: int,
    ) -> str:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        ids = [str(c) for c in chunk_ids]
        filters = {"partition": partition_tag(partition)}
        if ids:
            filters["chunk_tags"] = ",".join(sorted({chunk_tag(c) for c in ids}))
        key: str = await self._cache.astore(
            prompt=question,
            response=json.dumps(reply),
            vector=[float(x) for x in np.asarray(vector, dtype=np.float32)],
            metadata={"chunk_ids": ids, "partition": partition},
            filters=filters,
            ttl=int(ttl_s),
        )
        return key

    async def invalidate_chunks(self, chunk_ids: Sequence[str]) -> int:
        tags = sorted({chunk_tag(str(c)) for c in chunk_ids})
        if not tags:
            return 0
        index = await self._cache._get_async_index()
        client = await self._cache._get_async_redis_client()
        removed = 0
        for i in range(0, len(tags), 200):
            expr = Tag("chunk_tags") == tags[i : i + 200]
            while True:
                rows = await index.query(
                    FilterQuery(filter_expression=expr, return_fields=["entry_id"], num_results=500)
                )
                keys = [r["id"] for r in rows]
                if not keys:
                    break
                removed += int(await client.delete(*keys))
        if removed:
            log.info("cache: invalidated %d entries citing %d changed chunks", removed, len(tags))
        return removed

    async def invalidate_entry(self, entry_id: str) -> int:
        if not entry_id.startswith(self._prefix + ":"):
            return 0
        client = await self._cache._get_async_redis_client()
        return int(await client.delete(entry_id))

    async def clear(self) -> None:
        await self._cache.aclear()

    async def aclose(self) -> None:
        await self._cache.adisconnect()
        self._cache.disconnect()
