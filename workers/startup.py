"""Background work a serving process starts once it is ready (in-process, cancellable)."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable

from tools.deps import Deps

__all__ = ["background_hooks", "embed_catalog_in_background"]

log = logging.getLogger(__name__)
Hook = Callable[[Deps], Awaitable[None]]


async def embed_catalog_in_background(deps: Deps, batch: int = 512, pause_s: float = 0.05) -> None:
    """Embed catalog books that have no vector yet, in small batches, yielding to requests."""
    try:
        recommend = importlib.import_module("memory.commerce.recommend")
    except ImportError:
        return
    embed_batch = getattr(recommend, "embed_catalog_batch", None)
    if embed_batch is None:
        return
    total = 0
    while True:
        n = await embed_batch(deps.db, deps.embedder, batch)
        if not n:
            break
        total += n
        if total % (batch * 20) < batch:
            log.info("catalog embedding: %d books embedded in the background so far", total)
        await asyncio.sleep(pause_s)
    if total:
        log.info("catalog embedding finished: %d books", total)


def background_hooks() -> list[Hook]:
    if getattr(background_hooks, "disabled", False):
        return []
    from tools.passages import embed_passages_in_background

    return [embed_catalog_in_background, embed_passages_in_background]
