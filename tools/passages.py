"""Passage vectors: the rerank windows and answer sentences of every chunk, embedded ahead of time.

A docs turn scores the windows (rerank) and the sentences (extractive answer) of its candidate chunks.
Embedding them during the turn costs ~0.4-1 s for passages never seen; precomputed once per chunk in
the background (a serving process's startup hook, or the ``embed_passages`` job on arq workers) they
come from ``embedding_cache`` in one query. Turns never wait for this work: a chunk not done yet is
embedded on the spot (and cached) exactly as before, so answers are identical either way.
"""

from __future__ import annotations

import logging

from psycopg.rows import dict_row

from memory.db import Database
from memory.documents.embed import Embedder

__all__ = [
    "passage_texts",
    "reembed_chunk_batch",
    "sync_passage_model",
    "embed_passage_batch",
]

log = logging.getLogger(__name__)
WINDOW = 2  # sentences per rerank window (tools.rerank.rerank's default)


def passage_texts(text: str) -> list[str]:
    """Every text a docs turn may embed for this chunk: rerank windows, then answer sentences."""
    from agent.answer import chunk_sentences
    from tools.rerank import windows

    return [*windows(text, WINDOW), *chunk_sentences(text)]


async def embed_passage_batch(db: Database, embedder: Embedder, limit: int = 16) -> int:
    """Precompute the passage vectors of up to ``limit`` chunks not done yet; the number done.

    The chunks are claimed with ``FOR UPDATE SKIP LOCKED`` until committed, so several processes
    (API replicas, workers) share the work instead of repeating it; a crash leaves them pending."""
    from memory.documents.ingest import embed_cached

    async with db.pool.connection() as conn, conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, text FROM chunks WHERE NOT passages_ready ORDER BY id LIMIT %s "
                "FOR UPDATE SKIP LOCKED",
                (int(limit),),
            )
            rows = await cur.fetchall()
        if not rows:
            return 0
        ids = [int(r["id"]) for r in rows]
        texts = [t for r in rows for t in passage_texts(r["text"])]
        await embed_cached(db, embedder, texts)  # by text hash: repeated sentences embed once
        await conn.execute("UPDATE chunks SET passages_ready = true WHERE id = ANY(%s)", (ids,))
    return len(ids)


async def reembed_chunk_batch(db: Database, embedder: Embedder, limit: int = 64) -> int:
    """Re-embed up to ``limit`` chunks whose vector came from another model or variant (or from before
    that was recorded) with the current one; the number done. Claimed with SKIP LOCKED like passages."""
    from memory.documents.ingest import embed_cached, model_key

    key = model_key(embedder)
    async with db.pool.connection() as conn, conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, text FROM chunks WHERE embed_model IS DISTINCT FROM %s ORDER BY id LIMIT %s "
                "FOR UPDATE SKIP LOCKED",
                (key, int(limit)),
            )
            rows = await cur.fetchall()
        if not rows:
            return 0
        vecs = await embed_cached(db, embedder, [r["text"] for r in rows])
        async with conn.cursor() as cur:
            await cur.executemany(
                "UPDATE chunks SET embedding = %s, embed_model = %s WHERE id = %s",
                [(vecs[i], key, int(r["id"])) for i, r in enumerate(rows)],
            )
    return len(rows)


async def sync_passage_model(db: Database, embedder: Embedder) -> bool:
    """Passage vectors are cached per embedding model: when the model (or its int8/fp32 variant) changed
    since they were precomputed (or it was never recorded), mark every chunk pending again. True when it
    reset any."""
    from psycopg.types.json import Jsonb

    from memory.documents.ingest import model_key

    key = model_key(embedder)
    row = await db.fetchrow("SELECT value #>> '{}' AS v FROM meta WHERE key = 'passages_model'")
    if row is not None and row["v"] == key:
        return False
    async with db.pool.connection() as conn, conn.transaction():
        # unknown (None) or another model: vectors done so far may not be under this model's key
        cur = await conn.execute("UPDATE chunks SET passages_ready = false WHERE passages_ready")
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES ('passages_model', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (Jsonb(key),),
        )
    if cur.rowcount:
        log.info("embedding model now %s (was %s): passage vectors will be recomputed", key, row and row["v"])
    return cur.rowcount > 0
