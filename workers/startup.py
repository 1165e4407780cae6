"""Background work a serving process starts once it is ready (in-process, cancellable)."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable

from tools.deps import Deps

__all__ = [
    "background_hooks",
    "drain",
    "embed_catalog_in_background",
    "embed_passages_in_background",
    "recover_jobs_in_background",
]

log = logging.getLogger(__name__)
Hook = Callable[[Deps], Awaitable[None]]


async def drain(step: Callable[[], Awaitable[int]], *, pause_s: float = 0.05, label: str = "") -> int:
    """Run ``step()`` (one batch, returns how many items it did) until it does nothing, yielding to
    requests between batches; the total. Progress is logged every 20 batches when ``label`` is set."""
    total = batches = 0
    while n := await step():
        total += n
        batches += 1
        if label and batches % 20 == 0:
            log.info("%s: %d so far", label, total)
        await asyncio.sleep(pause_s)
    if label and total:
        log.info("%s: finished, %d", label, total)
    return total


async def embed_catalog_in_background(deps: Deps, batch: int = 512, pause_s: float = 0.05) -> None:
    """Embed catalog books that have no vector yet, in small batches, yielding to requests."""
    try:
        recommend = importlib.import_module("memory.commerce.recommend")
    except ImportError:
        return
    embed_batch = getattr(recommend, "embed_catalog_batch", None)
    if embed_batch is None:
        return
    await drain(
        lambda: embed_batch(deps.db, deps.embedder, batch), pause_s=pause_s, label="catalog embedding (books)"
    )


async def embed_passages_in_background(deps: Deps, batch: int = 16, pause_s: float = 0.05) -> None:
    """Re-embed chunks from another embedding model, then precompute passage vectors (tools.passages),
    in small batches, yielding to requests in between."""
    from tools.passages import embed_passage_batch, reembed_chunk_batch, sync_passage_model

    redone = await drain(
        lambda: reembed_chunk_batch(deps.db, deps.embedder), pause_s=pause_s, label="chunk re-embedding"
    )
    if redone and getattr(deps.extras.get("index"), "name", "pgvector") != "pgvector":
        log.warning("a mirroring search index holds the old vectors: run `libromind jobs run reindex`")
    await sync_passage_model(deps.db, deps.embedder)
    await drain(
        lambda: embed_passage_batch(deps.db, deps.embedder, batch), pause_s=pause_s, label="passage vectors"
    )


async def recover_jobs_in_background(deps: Deps) -> None:
    """Inline queue: re-queue (or fail visibly) jobs a stopped process left queued/running."""
    from workers.queue import recover_inline_jobs

    try:
        await recover_inline_jobs(deps)
    except Exception:  # noqa: BLE001 - never stop serving; the next minute's check retries
        log.exception("job recovery at start failed")


def background_hooks() -> list[Hook]:
    if getattr(background_hooks, "disabled", False):
        return []
    from workers.retention import retention_in_background

    return [
        recover_jobs_in_background,
        embed_catalog_in_background,
        embed_passages_in_background,
        retention_in_background,
    ]
