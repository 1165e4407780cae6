"""Job functions (run by the inline queue or arq workers): ``async fn(ctx, payload) -> result``."""

from __future__ import annotations

import logging
from typing import Any

from memory.documents.ingest import ingest_document as run_ingest
from workers.queue import JobContext, JobFailed

__all__ = ["JOBS", "ingest_document", "restore_document", "reindex"]

log = logging.getLogger(__name__)
_STEPS = {"parsing": 1, "embedding": 2, "indexed": 3, "failed": 3}


async def ingest_document(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Ingest an uploaded file (bytes stored in ``uploads``); progress in 3 steps (parse, embed, index).

    The bytes stay in ``uploads`` until the job reaches a terminal state (``finish_job`` drops them), so a
    retried attempt still has them."""
    from memory.documents import store
    from tools.deps import current
    from tools.knowledge import get_index

    deps = current()
    upload_id = payload["upload_id"]
    row = await ctx.db.fetchrow("SELECT filename, data FROM uploads WHERE id = %s", upload_id)
    if row is None:
        message = "The uploaded file is no longer available; upload it again."
        if payload.get("document_id"):
            await store.fail_pending(
                ctx.db, payload["document_id"], payload.get("content_hash"), "upload_missing", message
            )
        raise JobFailed(message)
    await ctx.progress(0, 3)

    async def on_status(_doc_id: str, status: str) -> None:
        await ctx.progress(_STEPS.get(status, 0), 3)

    outcome = await run_ingest(
        ctx.db,
        deps.embedder,
        deps.settings,
        bytes(row["data"]),
        payload.get("filename") or row["filename"],
        source=payload.get("source"),
        acl=payload.get("acl", "public"),
        doc_id=payload.get("document_id"),
        index=get_index(deps),
        on_status=on_status,
        uploaded_by=payload.get("by"),
    )
    return await _finish_ingest(outcome)


async def restore_document(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Make a kept version (``version_id``) of ``document_id`` current again (re-indexed from its bytes)."""
    from memory.documents.ingest import restore_version
    from tools.deps import current
    from tools.knowledge import get_index

    deps = current()
    await ctx.progress(0, 3)

    async def on_status(_doc_id: str, status: str) -> None:
        await ctx.progress(_STEPS.get(status, 0), 3)

    outcome = await restore_version(
        ctx.db,
        deps.embedder,
        deps.settings,
        payload["document_id"],
        payload["version_id"],
        uploaded_by=payload.get("by"),
        index=get_index(deps),
        on_status=on_status,
    )
    return await _finish_ingest(outcome)


async def _finish_ingest(outcome: Any) -> dict[str, Any]:
    from tools.deps import current
    from tools.knowledge import get_index, invalidate_cached_answers

    deps = current()
    await invalidate_cached_answers(outcome.deleted_chunk_ids, deps)
    result: dict[str, Any] = outcome.to_dict()
    if outcome.status == "failed":
        raise JobFailed(f"{outcome.error_code}: {outcome.error}", result)
    index = get_index(deps)
    refresh = getattr(index, "refresh", None)
    if refresh is not None:
        await refresh()
    return result


async def reindex(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the keyword index and re-copy every chunk into a mirroring backend (e.g. OpenSearch)."""

    from memory.documents.store import as_array
    from memory.index.base import IndexedChunk
    from tools.deps import current
    from tools.knowledge import get_index

    deps = current()
    index = get_index(deps)
    total_row = await ctx.db.fetchrow("SELECT count(*) AS n FROM chunks")
    total = int(total_row["n"]) if total_row else 0
    await ctx.progress(0, total)
    done = 0
    if getattr(index, "name", "pgvector") != "pgvector":
        last = 0
        while True:
            rows = await ctx.db.fetch(
                "SELECT id, doc_id::text AS doc_id, source, title, section, page, text, acl, embedding "
                "FROM chunks WHERE id > %s ORDER BY id LIMIT 1000",
                last,
            )
            if not rows:
                break
            await index.upsert(
                [
                    IndexedChunk(
                        str(r["id"]),
                        r["doc_id"],
                        r["source"],
                        r["title"],
                        r["section"],
                        r["page"],
                        r["text"],
                        r["acl"],
                        as_array(r["embedding"]),
                    )
                    for r in rows
                ]
            )
            last = int(rows[-1]["id"])
            done += len(rows)
            await ctx.progress(done, total)
    bm25 = getattr(index, "bm25", None)
    if bm25 is not None:
        await bm25.refresh(force=True)
    await ctx.progress(total, total)
    return {"chunks": total}


def _all_jobs() -> dict[str, Any]:
    from workers.maintenance import MAINTENANCE_JOBS
    from workers.retention import retention

    return {
        "ingest_document": ingest_document,
        "restore_document": restore_document,
        "reindex": reindex,
        **MAINTENANCE_JOBS,
        "retention": retention,  # workers/retention.py
    }


JOBS = _all_jobs()
