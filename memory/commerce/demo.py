"""The demo catalog: Book-Crossing books and ratings, loaded once (marked in ``meta``).

Prices and stock are generated demo values (deterministic from the ISBN) and flagged ``demo``.
Only the most-rated books are embedded synchronously; ``embed_catalog_batch`` embeds the rest in the
background (semantic search covers what is embedded; trigram search always covers everything).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from memory.commerce.importer import import_books
from memory.commerce.recommend import compute_also_liked, embed_catalog_batch, import_ratings

__all__ = ["DEMO_META_KEY", "embed_catalog_batch", "embed_pending", "find_demo_files", "load_demo_catalog"]

log = logging.getLogger(__name__)
DEMO_META_KEY = "commerce.demo_catalog"
DEMO_VERSION = 1
_LOCK = 0x6C69_6263  # "libc"
BX_BOOKS = "BX-Books.csv.gz"
BX_RATINGS = "BX-Book-Ratings.csv.gz"
Progress = Callable[[str, int, int], None]


def find_demo_files(data_dir: Path | str) -> tuple[Path, Path]:
    base = Path(data_dir)
    for d in (base, base / "books", base / "data" / "books"):
        if (d / BX_BOOKS).is_file():
            return d / BX_BOOKS, d / BX_RATINGS
    raise FileNotFoundError(f"{BX_BOOKS} not found under {base} (expected data/books/{BX_BOOKS}).")


def _embed_first_default() -> int:
    return int(os.environ.get("LIBROMIND_DEMO_EMBED_FIRST", "0"))


async def load_demo_catalog(
    db: Any,
    embedder: Any,
    data_dir: Path | str,
    progress: Progress | None = None,
    *,
    embed_first: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Import the Book-Crossing demo catalog once; return what was done (``skipped`` when already loaded).

    Stages reported through ``progress(stage, done, total)``: books, ratings, also_liked, embed.
    """
    books_file, ratings_file = find_demo_files(data_dir)
    embed_first = _embed_first_default() if embed_first is None else embed_first
    row = await db.fetchrow("SELECT value FROM meta WHERE key = %s", DEMO_META_KEY)
    if row and not force and row["value"].get("version") == DEMO_VERSION:
        return {"skipped": True, **row["value"]}
    async with db.pool.connection() as lock_conn:
        await lock_conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            row = await db.fetchrow("SELECT value FROM meta WHERE key = %s", DEMO_META_KEY)
            if row and not force and row["value"].get("version") == DEMO_VERSION:
                return {"skipped": True, **row["value"]}
            t0 = time.perf_counter()
            timings: dict[str, float] = {}
            books = await import_books(
                db, books_file, "bx", progress=progress, source="demo:book-crossing", expected_rows=271_379
            )
            timings["books_s"] = round(time.perf_counter() - t0, 2)
            t = time.perf_counter()
            ratings = await import_ratings(db, ratings_file, progress=progress, recompute=False)
            timings["ratings_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            cf = await compute_also_liked(db, progress=progress)
            timings["also_liked_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            embedded = await embed_pending(db, embedder, embed_first, progress=progress)
            timings["embed_s"] = round(time.perf_counter() - t, 2)
            timings["total_s"] = round(time.perf_counter() - t0, 2)
            value = {
                "version": DEMO_VERSION,
                "books": books.inserted + books.updated + books.unchanged,
                "books_rejected": books.rejected,
                "books_rejected_reasons": dict(books.reasons),
                "books_repaired": dict(books.repaired),
                "ratings": ratings.inserted + ratings.updated + ratings.unchanged,
                "ratings_skipped": ratings.rejected,
                "also_liked_pairs": cf.get("pairs", 0),
                "embedded_sync": embedded,
                "demo_prices": True,
                **timings,
            }
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()",
                DEMO_META_KEY,
                Jsonb(value),
            )
            log.info("demo catalog loaded: %s", value)
            return {"skipped": False, **value}
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))


async def embed_pending(
    db: Any, embedder: Any, limit: int, *, progress: Progress | None = None, step: int = 2048
) -> int:
    """Embed up to ``limit`` not-yet-embedded books (most-rated first), reporting progress."""
    done = 0
    while done < limit:
        n = await embed_catalog_batch(db, embedder, min(step, limit - done))
        done += n
        if progress:
            progress("embed", done, limit)
        if n == 0:
            break
    return done
