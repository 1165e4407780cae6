"""Semantic cache in PostgreSQL + pgvector (the default backend; table ``cache_entries``, 0040)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from memory.cache.base import CacheEntry
from memory.cache.guard import GuardConfig, pick
from memory.db import Database

__all__ = ["PgVectorCache"]

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES = 4


class PgVectorCache:
    """``cache_entries`` rows; lookup = HNSW cosine search inside one partition + the near-miss guard.

    HNSW with a ``WHERE partition = ...`` filter uses pgvector's iterative scan so a filtered search
    never comes back short (``hnsw.iterative_scan = relaxed_order``, set per transaction).
    """

    name = "pgvector"

    def __init__(
        self,
        db: Database,
        *,
        threshold: float | None = None,
        guard: GuardConfig | None = None,
        candidates: int = DEFAULT_CANDIDATES,
    ) -> None:
        from memory.cache import DEFAULT_THRESHOLD

        self.db = db
        self.threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        self.guard = guard or GuardConfig()
        self.candidates = candidates
        self._tasks: set[asyncio.Task[None]] = set()

    async def search(
        self, vector: np.ndarray, partition: str, k: int, min_similarity: float
    ) -> list[CacheEntry]:
        """Live entries of ``partition`` with cosine similarity >= ``min_similarity``, best first."""
        async with self.db.pool.connection() as conn, conn.transaction():
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cur = await conn.execute(
                "SELECT id::text AS id, question, reply, chunk_ids, 1 - (embedding <=> %s) AS similarity "
                "FROM cache_entries WHERE partition = %s AND expires_at > now() "
                "ORDER BY embedding <=> %s LIMIT %s",
                (np.asarray(vector, dtype=np.float32), partition, np.asarray(vector, dtype=np.float32), k),
            )
            rows: list[dict[str, Any]] = await cur.fetchall()  # type: ignore[assignment]
        out = []
        for r in rows:
            if float(r["similarity"]) < min_similarity:
                continue
            out.append(
                CacheEntry(
                    entry_id=r["id"],
                    question=r["question"],
                    reply=r["reply"],
                    similarity=float(r["similarity"]),
                    chunk_ids=list(r["chunk_ids"]),
                )
            )
        out.sort(key=lambda e: -e.similarity)  # relaxed_order may return slightly out of order
        return out

    async def lookup(self, vector: np.ndarray, question: str, partition: str) -> CacheEntry | None:
        found = await self.search(vector, partition, self.candidates, self.threshold)
        entry: CacheEntry | None = pick([(e.question, e) for e in found], question, self.guard)
        if entry is not None:  # the hit counter is bookkeeping: update it off the hit's latency path
            task = asyncio.create_task(self._count_hit(entry.entry_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return entry

    async def _count_hit(self, entry_id: str) -> None:
        try:
            await self.db.execute(
                "UPDATE cache_entries SET hits = hits + 1, last_hit_at = now() WHERE id = %s", entry_id
            )
        except Exception:  # pragma: no cover - bookkeeping never fails a lookup
            log.debug("cache hit counter update failed", exc_info=True)

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
        entry_id = str(uuid.uuid4())
        await self.db.execute(
            "INSERT INTO cache_entries (id, partition, question, embedding, reply, chunk_ids, expires_at) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s, now() + make_interval(secs => %s))",
            entry_id,
            partition,
            question,
            np.asarray(vector, dtype=np.float32),
            json.dumps(reply),
            [str(c) for c in chunk_ids],
            float(ttl_s),
        )
        return entry_id

    async def invalidate_chunks(self, chunk_ids: Sequence[str]) -> int:
        ids = [str(c) for c in chunk_ids]
        if not ids:
            return 0
        rows = await self.db.fetch(
            "DELETE FROM cache_entries WHERE chunk_ids && %s::text[] RETURNING id", ids
        )
        if rows:
            log.info("cache: invalidated %d entries citing %d changed chunks", len(rows), len(ids))
        return len(rows)

    async def invalidate_entry(self, entry_id: str) -> int:
        try:
            uuid.UUID(entry_id)
        except ValueError:
            return 0
        rows = await self.db.fetch("DELETE FROM cache_entries WHERE id = %s RETURNING id", entry_id)
        return len(rows)

    async def purge_expired(self) -> int:
        """Delete expired rows (lookups already ignore them); run from a periodic job."""
        rows = await self.db.fetch("DELETE FROM cache_entries WHERE expires_at <= now() RETURNING id")
        return len(rows)

    async def clear(self) -> None:
        await self.db.execute("DELETE FROM cache_entries")

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
