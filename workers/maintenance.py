"""Maintenance jobs: embed a catalog batch, precompute passage vectors, rebuild the keyword index, aggregate
feedback, sweep orphaned uploads and stranded documents.

All are idempotent: re-running one after a crash leaves exactly one copy of its effect.
"""

from __future__ import annotations

from typing import Any

from workers.queue import JobContext

__all__ = [
    "embed_batch",
    "embed_passages",
    "reembed_chunks",
    "rebuild_keyword_index",
    "aggregate_feedback",
    "sweep_orphans",
    "MAINTENANCE_JOBS",
]


async def embed_batch(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Embed up to ``limit`` catalog books that have no vector yet (most-rated first)."""
    from memory.commerce.recommend import embed_catalog_batch
    from tools.deps import current

    limit = int(payload.get("limit", 1000))
    await ctx.progress(0, limit)
    done = await embed_catalog_batch(ctx.db, current().embedder, limit)
    left = await ctx.db.fetchrow(
        "SELECT count(*) AS n FROM books b WHERE NOT EXISTS (SELECT 1 FROM book_embeddings e WHERE e.isbn13 = b.isbn13)"
    )
    await ctx.progress(done, limit)
    return {"embedded": done, "remaining": int(left["n"]) if left else 0}


async def _batches(ctx: JobContext, limit: int, size: int, step: Any) -> int:
    """Run ``step(n) -> done`` in batches of ``size`` until ``limit`` or no work is left; progress."""
    from tools.deps import current

    embedder = current().embedder
    await ctx.progress(0, limit)
    done = 0
    while done < limit:
        n = await step(ctx.db, embedder, min(size, limit - done))
        if not n:
            break
        done += n
        await ctx.progress(done, limit)
    await ctx.progress(done, done)  # finished: the real total
    return done


async def embed_passages(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Precompute passage vectors (rerank windows, answer sentences) for up to ``limit`` chunks."""
    from tools.deps import current
    from tools.passages import embed_passage_batch, sync_passage_model

    await sync_passage_model(ctx.db, current().embedder)
    done = await _batches(ctx, int(payload.get("limit", 5000)), 256, embed_passage_batch)
    left = await ctx.db.fetchrow("SELECT count(*) AS n FROM chunks WHERE NOT passages_ready")
    return {"chunks": done, "remaining": int(left["n"]) if left else 0}


async def reembed_chunks(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Re-embed chunks whose vectors came from another embedding model/variant (up to ``limit``)."""
    from tools.passages import reembed_chunk_batch

    return {"chunks": await _batches(ctx, int(payload.get("limit", 100000)), 128, reembed_chunk_batch)}


async def rebuild_keyword_index(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the BM25 keyword index from the chunks table."""
    from tools.deps import current
    from tools.knowledge import get_index

    index = get_index(current())
    bm25 = getattr(index, "bm25", None)
    await ctx.progress(0, 1)
    if bm25 is not None:
        await bm25.refresh(force=True)
    row = await ctx.db.fetchrow("SELECT count(*) AS n FROM chunks")
    await ctx.progress(1, 1)
    return {
        "index": getattr(index, "name", "?"),
        "chunks": int(row["n"]) if row else 0,
        "bm25": bm25 is not None,
    }


_AGGREGATE = """
INSERT INTO feedback_daily (day, channel, policy, route, answers, up, down, cache_hits, p50_ms, updated_at)
SELECT a.created_at::date, a.channel, a.policy,
       coalesce((SELECT string_agg(s, '>') FROM jsonb_array_elements_text(a.steps) AS s), '') AS route,
       count(DISTINCT a.id), count(*) FILTER (WHERE f.score = 1), count(*) FILTER (WHERE f.score = -1),
       count(DISTINCT a.id) FILTER (WHERE a.cache_hit),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms), now()
FROM answers a LEFT JOIN feedback f ON f.answer_id = a.id
WHERE a.created_at >= %s::date
GROUP BY 1, 2, 3, 4
ON CONFLICT (day, channel, policy, route) DO UPDATE SET
    answers = EXCLUDED.answers, up = EXCLUDED.up, down = EXCLUDED.down, cache_hits = EXCLUDED.cache_hits,
    p50_ms = EXCLUDED.p50_ms, updated_at = now()
"""


async def aggregate_feedback(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Recompute daily feedback aggregates (per channel, policy and route) since ``since`` (a date)."""
    since = str(payload.get("since", "1970-01-01"))
    await ctx.progress(0, 1)
    async with ctx.db.pool.connection() as conn, conn.transaction():
        await conn.execute("DELETE FROM feedback_daily WHERE day >= %s::date", (since,))
        await conn.execute(_AGGREGATE, (since,))
    rows = await ctx.db.fetch(
        "SELECT sum(answers) AS answers, sum(up) AS up, sum(down) AS down FROM feedback_daily WHERE day >= %s::date",
        since,
    )
    await ctx.progress(1, 1)
    r = rows[0] if rows else {}
    return {k: int(r.get(k) or 0) for k in ("answers", "up", "down")}


_LIVE_JOB = (
    "SELECT 1 FROM jobs j WHERE j.status IN ('queued', 'running') AND j.kind IN ('ingest_document', "
    "'restore_document') AND "
)
ABANDONED = "The upload was interrupted before it was processed; upload the file again."


async def sweep_orphans(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Clean up after crashes, older than ``older_than_s`` (default 3600): delete uploaded bytes no live
    job will read, fail documents left queued/parsing/embedding with no live job (a previously indexed
    version stays searchable), and fail arq jobs stuck ``running`` past every timeout and retry."""
    from tools.deps import current

    grace = float(payload.get("older_than_s", 3600))
    await ctx.progress(0, 3)
    uploads = await ctx.db.fetch(
        "DELETE FROM uploads u WHERE u.created_at < now() - make_interval(secs => %s) "
        f"AND NOT EXISTS ({_LIVE_JOB} j.payload->>'upload_id' = u.id::text) RETURNING id",
        grace,
    )
    await ctx.progress(1, 3)
    docs = await ctx.db.fetch(
        "UPDATE documents d SET status = 'failed', error_code = 'abandoned', error = %s, "
        "pending_hash = NULL, updated_at = now() "
        "WHERE d.status IN ('queued', 'parsing', 'embedding') AND d.updated_at < now() - make_interval(secs => %s) "
        f"AND NOT EXISTS ({_LIVE_JOB} j.payload->>'document_id' = d.id::text) RETURNING id",
        ABANDONED,
        grace,
    )
    await ctx.progress(2, 3)
    s = current().settings
    limit = grace + s.job_timeout_s * (s.job_max_tries + 1) + 60 * s.job_max_tries
    jobs = await ctx.db.fetch(
        "UPDATE jobs SET status = 'failed', error = %s, finished_at = now(), updated_at = now() "
        "WHERE backend = 'arq' AND status = 'running' AND updated_at < now() - make_interval(secs => %s) "
        "RETURNING id",
        "The job stopped without finishing (a worker was lost or it timed out); submit it again.",
        limit,
    )
    await ctx.progress(3, 3)
    return {"uploads": len(uploads), "documents": len(docs), "jobs": len(jobs)}


MAINTENANCE_JOBS = {
    "embed_batch": embed_batch,
    "embed_passages": embed_passages,
    "reembed_chunks": reembed_chunks,
    "rebuild_keyword_index": rebuild_keyword_index,
    "aggregate_feedback": aggregate_feedback,
    "sweep_orphans": sweep_orphans,
}
