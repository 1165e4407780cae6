"""``CacheFront``: the one semantic-cache code path (ChatService, ``libromind eval cache``).

lookup = normalise question -> embed (or reuse the caller's vector) -> partition
(:func:`memory.cache.cache_partition`) -> backend vector search within the threshold -> near-miss
guard (:mod:`memory.cache.guard`). A backend failure is logged and counted and reads as a miss: the
cache is an optimisation and never breaks a turn.

What the caller must do (ChatService):

- call :meth:`CacheFront.lookup` before running the graph for a plain knowledge question;
- call :meth:`CacheFront.store` only for grounded answers that do **not** depend on the user:
  never after a route that used the cart, orders or any tool that received the principal, never for
  refusals, clarifications or answers without citations;
- pass the cited chunk ids, so re-ingesting or deleting a chunk drops the entry;
- call :meth:`CacheFront.invalidate_entry` on a thumbs-down for a reply that came from the cache
  (or was stored), with the ``entry_id`` it returned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memory.cache import DEFAULT_TTL_S, cache_partition
from memory.cache.base import CacheEntry, SemanticCache
from memory.cache.guard import GuardConfig
from memory.documents.embed import Embedder

__all__ = ["CacheFront", "CacheStats", "CacheVersions", "normalize_question"]

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500


def normalize_question(question: str) -> str:
    return " ".join(question.split())


@dataclass(frozen=True)
class CacheVersions:
    """The versions an answer depends on: ``meta.corpus_version`` and the catalog version."""

    corpus: int | str = 0
    catalog: int | str = 0

    @classmethod
    def of(cls, value: CacheVersions | Sequence[Any] | Mapping[str, Any] | None) -> CacheVersions:
        if value is None:
            return cls()
        if isinstance(value, CacheVersions):
            return value
        if isinstance(value, Mapping):
            return cls(value.get("corpus", 0), value.get("catalog", 0))
        corpus, catalog = value
        return cls(corpus, catalog)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    stores: int = 0
    errors: int = 0
    skipped: int = 0
    invalidated: int = 0
    hit_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "hit_ms"}


class CacheFront:
    """Embed + partition + backend lookup + guard, with counters; shared by all callers."""

    def __init__(
        self,
        backend: SemanticCache,
        embedder: Embedder,
        *,
        ttl_s: int = DEFAULT_TTL_S,
        threshold: float | None = None,
        guard: GuardConfig | None = None,
        vector_cache_size: int = 1024,
    ) -> None:
        self.backend = backend
        self.embedder = embedder
        self.ttl_s = ttl_s
        if threshold is not None:
            backend.threshold = threshold  # type: ignore[attr-defined]
        if guard is not None:
            backend.guard = guard  # type: ignore[attr-defined]
        self.stats = CacheStats()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vector_cache_size = vector_cache_size

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def threshold(self) -> float:
        return float(getattr(self.backend, "threshold", 0.0))

    def clear_vectors(self) -> None:
        """Forget cached question vectors (benchmarks measure cold questions)."""
        self._vectors.clear()

    async def embed(self, question: str) -> np.ndarray:
        """The question's vector (a small LRU avoids re-embedding a question asked again)."""
        known = self._vectors.get(question)
        if known is not None:
            self._vectors.move_to_end(question)
            return known
        shared = getattr(self.embedder, "cached_query", None)  # the router may have embedded it already
        found: np.ndarray | None = shared(question) if shared is not None else None
        embed = getattr(self.embedder, "embed_query", None) or self.embedder.embed_one
        vec: np.ndarray = found if found is not None else await asyncio.to_thread(embed, question)
        self._vectors[question] = vec
        if len(self._vectors) > self._vector_cache_size:
            self._vectors.popitem(last=False)
        return vec

    def partition(
        self, scopes: Iterable[str], versions: CacheVersions | Sequence[Any] | Mapping[str, Any] | None
    ) -> str:
        """ACL scopes + corpus/catalog versions, + the embedding variant when it is not the fp32 one:
        entries stored with other vectors (another LIBROMIND_EMBED_BACKEND) are never compared."""
        v = CacheVersions.of(versions)
        key = cache_partition(scopes, v.corpus, v.catalog)
        variant = getattr(self.embedder, "variant", "fp32")
        return key if variant == "fp32" else f"{key}|e{variant}"

    async def lookup(
        self,
        question: str,
        scopes: Iterable[str],
        versions: CacheVersions | Sequence[Any] | Mapping[str, Any] | None,
        *,
        vector: np.ndarray | None = None,
    ) -> CacheEntry | None:
        """The cached reply for ``question`` in the principal's partition, or None (a miss)."""
        t0 = time.perf_counter()
        q = normalize_question(question)
        if not q or len(q) > MAX_QUESTION_CHARS:
            self.stats.skipped += 1
            return None
        partition = self.partition(scopes, versions)
        try:
            vec = vector if vector is not None else await self.embed(q)
            entry = await self.backend.lookup(vec, q, partition)
        except Exception:
            self.stats.errors += 1
            log.warning("semantic cache lookup failed (%s); treating as a miss", self.name, exc_info=True)
            return None
        if entry is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.stats.hit_ms.append((time.perf_counter() - t0) * 1000)
        if len(self.stats.hit_ms) > 10_000:
            del self.stats.hit_ms[:5_000]
        return entry

    async def store(
        self,
        question: str,
        scopes: Iterable[str],
        versions: CacheVersions | Sequence[Any] | Mapping[str, Any] | None,
        reply: dict[str, Any],
        chunk_ids: Sequence[Any],
        *,
        vector: np.ndarray | None = None,
        ttl_s: int | None = None,
    ) -> str | None:
        """Cache a user-independent grounded reply; returns the entry id (None when not stored)."""
        q = normalize_question(question)
        if not q or len(q) > MAX_QUESTION_CHARS:
            self.stats.skipped += 1
            return None
        partition = self.partition(scopes, versions)
        try:
            vec = vector if vector is not None else await self.embed(q)
            entry_id = await self.backend.store(
                vec, q, partition, reply, [str(c) for c in chunk_ids], ttl_s or self.ttl_s
            )
        except Exception:
            self.stats.errors += 1
            log.warning("semantic cache store failed (%s)", self.name, exc_info=True)
            return None
        self.stats.stores += 1
        return entry_id

    async def invalidate_chunks(self, chunk_ids: Sequence[Any]) -> int:
        n = await self.backend.invalidate_chunks([str(c) for c in chunk_ids])
        self.stats.invalidated += n
        return n

    async def invalidate_entry(self, entry_id: str) -> int:
        n = await self.backend.invalidate_entry(entry_id)
        self.stats.invalidated += n
        return n

    async def aclose(self) -> None:
        closer = getattr(self.backend, "aclose", None)
        if closer is not None:
            await closer()
