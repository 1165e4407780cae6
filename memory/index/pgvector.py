"""The default index backend: pgvector HNSW (cosine) for dense search + bm25s (or PostgreSQL full text)
for keyword search, both over the ``chunks`` table, with the ACL filter inside the query."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from memory.db import Database
from memory.documents.store import CHUNK_COLUMNS
from memory.index.base import Hit, IndexedChunk
from memory.index.bm25 import BM25Index

__all__ = ["PgVectorIndex"]

_TERM = re.compile(r"[a-z0-9]+")


class PgVectorIndex:
    """Dense: ``ORDER BY embedding <=> q`` over the HNSW index with ``WHERE acl = ANY(scopes)`` (iterative
    index scan, so the filter never starves the top-k). Keyword: bm25s with an ACL weight mask, or
    PostgreSQL ``ts_rank_cd`` (``keyword_backend="fts"``)."""

    name = "pgvector"

    def __init__(
        self,
        db: Database,
        *,
        home: Path | None = None,
        ef_search: int = 100,
        keyword_backend: Literal["bm25", "fts"] = "bm25",
    ) -> None:
        self.db = db
        self.ef_search = ef_search
        self.keyword_backend = keyword_backend
        self.bm25 = BM25Index(db, home=home)

    async def dense(self, vector: np.ndarray, k: int, scopes: Sequence[str]) -> list[Hit]:
        vec = np.asarray(vector, dtype=np.float32)
        async with self.db.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                (str(max(self.ef_search, k)),),
            )
            cur = await conn.execute(
                f"SELECT {CHUNK_COLUMNS}, 1 - (c.embedding <=> %s) AS score FROM chunks c "
                "WHERE c.acl = ANY(%s) ORDER BY c.embedding <=> %s LIMIT %s",
                (vec, list(scopes), vec, k),
            )
            rows = await cur.fetchall()
        hits = [_hit(r) for r in rows]  # type: ignore[arg-type]
        hits.sort(key=lambda h: -h.score)  # relaxed_order may return slightly out of order
        return hits

    async def keyword(self, query: str, k: int, scopes: Sequence[str]) -> list[Hit]:
        if self.keyword_backend == "fts":
            return await self.fts(query, k, scopes)
        return await self.bm25.keyword(query, k, scopes)

    async def fts(self, query: str, k: int, scopes: Sequence[str]) -> list[Hit]:
        """PostgreSQL full text (OR of the query's terms, ranked by ts_rank_cd)."""
        terms = sorted(set(_TERM.findall(query.lower())))
        if not terms:
            return []
        rows = await self.db.fetch(
            f"SELECT {CHUNK_COLUMNS}, ts_rank_cd(c.tsv, q, 1) AS score "
            "FROM chunks c, to_tsquery('english', %s) q "
            "WHERE c.acl = ANY(%s) AND c.tsv @@ q ORDER BY score DESC, c.id LIMIT %s",
            " | ".join(terms),
            list(scopes),
            k,
        )
        return [_hit(r) for r in rows]

    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """No-op: the chunks table is this index (memory.documents.store writes it transactionally)."""

    async def delete_documents(self, doc_ids: Sequence[str]) -> None:
        """No-op for the same reason (store.delete_document removes rows and bumps the corpus version)."""

    async def refresh(self) -> None:
        if self.keyword_backend == "bm25":
            await self.bm25.refresh()

    async def aclose(self) -> None:
        return None


def _hit(r: dict[str, Any]) -> Hit:
    return Hit(
        chunk_id=str(r["id"]),
        doc_id=str(r["doc_id"]),
        source=r["source"],
        title=r["title"],
        section=r["section"],
        page=r["page"],
        text=r["text"],
        score=float(r["score"]),
        acl=r["acl"],
    )
