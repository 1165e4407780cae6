"""Ratings import, "readers who liked X also liked" (item-item collaborative filtering, precomputed),
"similar to X" (pgvector over title + author + publisher) and catalog embedding in batches.

Collaborative filtering: positive interactions are explicit ratings >= 6 plus implicit ones (0).
Books with at least ``min_count`` positives and readers with 2..``max_user_items`` positives form a
binary reader x book matrix X; C = XᵀX counts co-readers; score = cosine C_ij / sqrt(n_i n_j) with
C_ij >= ``min_co``; the ``top_k`` neighbours of every book go to ``book_similar`` together with how
many readers rated both highly (the reason shown to users).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from memory.commerce import BadRequest, Missing
from memory.commerce.catalog import book_text, normalize_isbn, to_public
from memory.commerce.importer import ImportReport, detect_format

__all__ = [
    "also_liked", "compute_also_liked", "embed_catalog_batch", "import_ratings", "refresh_stats", "similar",
]

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]

_STAGE = "CREATE TEMP TABLE stage_ratings (user_id text, isbn text, rating text) ON COMMIT DROP"
_MAP = """
CREATE TEMP TABLE stage_isbns ON COMMIT DROP AS
SELECT d.isbn, coalesce(b10.isbn13, b13.isbn13) AS isbn13,
       d.x ~ '^([0-9]{9}[0-9X]|97[89][0-9]{10})$' AS well_formed, d.n
FROM (SELECT isbn, upper(regexp_replace(isbn, '[^0-9Xx]', '', 'g')) AS x, count(*) AS n
      FROM stage_ratings GROUP BY isbn) d
LEFT JOIN books b10 ON length(d.x) = 10 AND b10.isbn10 = d.x
LEFT JOIN books b13 ON length(d.x) = 13 AND b13.isbn13 = d.x
"""
_INSERT = """
WITH src AS (
    SELECT DISTINCT ON (s.user_id::int, m.isbn13) s.user_id::int AS user_id, m.isbn13, s.rating::int AS rating
    FROM stage_ratings s JOIN stage_isbns m ON m.isbn = s.isbn
    WHERE m.isbn13 IS NOT NULL AND s.user_id ~ '^[0-9]{1,9}$' AND s.rating ~ '^([0-9]|10)$'
    ORDER BY s.user_id::int, m.isbn13, s.ctid DESC
), up AS (
    INSERT INTO ratings AS r (user_id, isbn13, rating) SELECT * FROM src
    __CONFLICT__
    RETURNING 1
)
SELECT (SELECT count(*) FROM up) AS written, (SELECT count(*) FROM src) AS matched
"""
_COUNTS = """
SELECT (SELECT count(*) FROM stage_ratings) AS staged,
       (SELECT coalesce(sum(n), 0) FROM stage_isbns WHERE NOT well_formed AND isbn13 IS NULL) AS bad_isbn,
       (SELECT coalesce(sum(n), 0) FROM stage_isbns WHERE well_formed AND isbn13 IS NULL) AS unknown,
       (SELECT count(*) FROM stage_ratings s JOIN stage_isbns m ON m.isbn = s.isbn WHERE m.isbn13 IS NOT NULL
          AND NOT (s.user_id ~ '^[0-9]{1,9}$' AND s.rating ~ '^([0-9]|10)$')) AS bad_values
"""


def _raw_chunks(path: Path, fmt: str) -> Iterator[bytes]:
    """File bytes for COPY (CSV / BX), or JSONL converted to CSV lines."""
    opener = gzip.open if path.suffix == ".gz" else open
    if fmt == "jsonl":
        import csv
        import json

        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            out = io.StringIO()
            w = csv.writer(out)
            for text in fh:
                if text.strip():
                    try:
                        r = json.loads(text)
                        w.writerow([r.get("user_id"), r.get("isbn"), r.get("rating")])
                    except (json.JSONDecodeError, AttributeError):
                        w.writerow(["", "", ""])
                if out.tell() > 1 << 20:
                    yield out.getvalue().encode()
                    out = io.StringIO()
                    w = csv.writer(out)
            yield out.getvalue().encode()
        return
    with opener(path, "rb") as fh:  # type: ignore[operator]
        while chunk := fh.read(1 << 20):
            yield chunk


async def import_ratings(db: Any, path: Path | str, *, progress: Progress | None = None,
                         recompute: bool = True) -> ImportReport:
    """Load ratings (user, ISBN, 0-10; 0 = implicit) with COPY; ratings of unknown books are skipped.

    Formats: Book-Crossing (``"User-ID";"ISBN";"Book-Rating"``, Latin-1), CSV ``user_id,isbn,rating``
    (header), JSONL. Then book_stats and (``recompute``) the "also liked" table are refreshed.
    """
    path = Path(path)
    if not path.is_file():
        raise BadRequest(f"No such file: {path}")
    name = path.name.lower().removesuffix(".gz")
    fmt = "jsonl" if name.endswith((".jsonl", ".ndjson")) else detect_format(path)
    report = ImportReport(kind="ratings", format=fmt)
    t0 = time.perf_counter()
    if fmt == "bx":
        opts = "FORMAT csv, DELIMITER ';', QUOTE '\"', ESCAPE '\\', HEADER true, ENCODING 'LATIN1'"
    elif fmt == "jsonl":
        opts = "FORMAT csv"
    else:
        opts = "FORMAT csv, HEADER true"
    total = path.stat().st_size
    async with db.pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL work_mem = '128MB'")
        await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        await conn.execute(_STAGE)
        chunks = _raw_chunks(path, fmt)
        sent = 0
        done = object()
        async with conn.cursor() as cur, cur.copy(f"COPY stage_ratings FROM STDIN ({opts})") as cp:
            while (data := await asyncio.to_thread(next, chunks, done)) is not done:
                await cp.write(data)  # type: ignore[arg-type]
                sent += len(data)  # type: ignore[arg-type]
                if progress:
                    progress("ratings", min(sent, total), total)
        cur = await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM ratings) AS empty")
        bulk = bool((await cur.fetchone())["empty"])
        if bulk:  # first load: build the primary key once at the end
            await conn.execute("ALTER TABLE ratings DROP CONSTRAINT ratings_pkey")
            sql = _INSERT.replace("__CONFLICT__", "")
        else:
            sql = _INSERT.replace(
                "__CONFLICT__",
                "ON CONFLICT (user_id, isbn13) DO UPDATE SET rating = excluded.rating"
                " WHERE r.rating <> excluded.rating",
            )
        await conn.execute(_MAP)
        await conn.execute("ANALYZE stage_isbns")
        cur = await conn.execute(sql)
        c = await cur.fetchone()
        cur = await conn.execute(_COUNTS)
        k = await cur.fetchone()
        if bulk:
            await conn.execute("ALTER TABLE ratings ADD CONSTRAINT ratings_pkey PRIMARY KEY (user_id, isbn13)")
        await refresh_stats(conn)
    report.read = int(k["staged"])
    report.inserted = int(c["written"]) if bulk else 0
    report.updated = 0 if bulk else int(c["written"])
    report.unchanged = int(c["matched"]) - int(c["written"])
    bad_values = int(k["bad_values"])
    known_valid = report.read - int(k["bad_isbn"]) - int(k["unknown"]) - bad_values
    for reason, n in (
        ("invalid ISBN", int(k["bad_isbn"])),
        ("ISBN not in catalog", int(k["unknown"])),
        ("bad user id or rating", bad_values),
        ("duplicate rating (last one kept)", known_valid - int(c["matched"])),
    ):
        if n > 0:
            report.reasons[reason] += n
            report.rejected += n
    report.seconds = time.perf_counter() - t0
    log.info("ratings import: %s", {k: v for k, v in report.to_dict().items() if k != "examples"})
    if recompute:
        await compute_also_liked(db, progress=progress)
    return report


async def refresh_stats(conn: Any) -> None:
    """Recompute book_stats (rating counts and averages) from ratings."""
    await conn.execute(
        "INSERT INTO book_stats AS s (isbn13, rating_count, explicit_count, rating_avg)"
        " SELECT isbn13, count(*), count(*) FILTER (WHERE rating > 0), avg(rating) FILTER (WHERE rating > 0)"
        " FROM ratings GROUP BY isbn13"
        " ON CONFLICT (isbn13) DO UPDATE SET rating_count = excluded.rating_count,"
        " explicit_count = excluded.explicit_count, rating_avg = excluded.rating_avg"
        " WHERE (s.rating_count, s.explicit_count, s.rating_avg) IS DISTINCT FROM"
        " (excluded.rating_count, excluded.explicit_count, excluded.rating_avg)"
    )


def _neighbours(
    data: bytes, min_count: int, max_user_items: int, top_k: int, min_co: int
) -> tuple[list[tuple[str, str, float, int, int]], dict[str, int]]:
    import scipy.sparse as sp

    tok = data.split()
    if not tok:
        return [], {"books": 0, "readers": 0, "pairs": 0}
    users = np.array(tok[0::3]).astype(np.int64)
    isbns, items = np.unique(np.array(tok[1::3]), return_inverse=True)
    high = np.array(tok[2::3]).astype(np.int16) >= 6
    del tok
    counts = np.bincount(items)
    keep_items = np.flatnonzero(counts >= min_count)
    remap = np.full(len(isbns), -1, dtype=np.int64)
    remap[keep_items] = np.arange(len(keep_items))
    m = remap[items] >= 0
    _, uidx = np.unique(users[m], return_inverse=True)
    cols = remap[items[m]]
    nu, ni = int(uidx.max()) + 1 if len(uidx) else 0, len(keep_items)
    if nu == 0 or ni == 0:
        return [], {"books": 0, "readers": 0, "pairs": 0}
    X = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (uidx, cols)), shape=(nu, ni))
    X.sum_duplicates()
    X.data[:] = 1
    H = sp.csr_matrix((high[m].astype(np.float32), (uidx, cols)), shape=(nu, ni))
    H.sum_duplicates()
    H.data = (H.data > 0).astype(np.float32)
    uc = np.diff(X.indptr)
    good = np.flatnonzero((uc >= 2) & (uc <= max_user_items))
    X, H = X[good], H[good]
    C = (X.T @ X).tocoo()
    n = np.asarray(X.sum(axis=0)).ravel()
    r, c, co = C.row, C.col, C.data
    sel = (r != c) & (co >= min_co)
    r, c, co = r[sel], c[sel], co[sel]
    score = co / np.sqrt(n[r] * n[c])
    order = np.lexsort((-score, r))
    r, c, co, score = r[order], c[order], co[order], score[order]
    starts = np.searchsorted(r, r, side="left")
    rank = np.arange(len(r)) - starts
    sel = rank < top_k
    r, c, co, score = r[sel], c[sel], co[sel], score[sel]
    hc = np.asarray((H.T @ H).tocsr()[r, c]).ravel() if len(r) else np.zeros(0)
    names = isbns[keep_items]
    rows = [
        (names[a].decode(), names[b].decode(), float(s), int(k), int(h))
        for a, b, s, k, h in zip(r, c, score, co, hc, strict=True)
    ]
    return rows, {"books": int(len(set(r.tolist()))), "readers": int(len(good)), "pairs": len(rows)}


async def compute_also_liked(
    db: Any, *, min_count: int = 10, max_user_items: int = 300, top_k: int = 20, min_co: int = 3,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Rebuild ``book_similar`` from ratings (see module docstring); return counts and seconds."""
    t0 = time.perf_counter()
    if progress:
        progress("also_liked", 0, 3)
    buf = bytearray()
    async with db.pool.connection() as conn:
        async with conn.cursor() as cur, cur.copy(
            "COPY (SELECT user_id, isbn13, rating FROM ratings WHERE rating = 0 OR rating >= 6) TO STDOUT"
        ) as cp:
            async for chunk in cp:
                buf += chunk
        if progress:
            progress("also_liked", 1, 3)
        rows, stats = await asyncio.to_thread(_neighbours, bytes(buf), min_count, max_user_items, top_k, min_co)
        del buf
        if progress:
            progress("also_liked", 2, 3)
        async with conn.transaction():
            await conn.execute("TRUNCATE book_similar")
            async with conn.cursor() as cur, cur.copy(
                "COPY book_similar (isbn13, other_isbn13, score, co_count, high_count) FROM STDIN"
            ) as cp:
                for i in range(0, len(rows), 50_000):
                    await cp.write("".join(f"{a}\t{b}\t{s:.5f}\t{k}\t{h}\n" for a, b, s, k, h in rows[i : i + 50_000]))
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    if progress:
        progress("also_liked", 3, 3)
    log.info("also-liked table: %s", stats)
    return stats


def _title_key(title: str) -> str:
    return " ".join(title.lower().split("(")[0].split())


async def also_liked(db: Any, isbn: str, k: int = 5) -> list[dict[str, Any]]:
    isbn13 = normalize_isbn(isbn)
    src = await db.fetchrow("SELECT title FROM books WHERE isbn13 = %s", isbn13)
    if src is None:
        raise Missing(f"No book with ISBN {isbn} in the catalog.", code="unknown_isbn")
    rows = await db.fetch(
        "SELECT b.*, s.rating_count, s.rating_avg, bs.score, bs.co_count, bs.high_count"
        " FROM book_similar bs JOIN books b ON b.isbn13 = bs.other_isbn13"
        " LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
        " WHERE bs.isbn13 = %s ORDER BY bs.score DESC, bs.co_count DESC LIMIT %s",
        isbn13, k * 3,
    )
    seen = {_title_key(src["title"])}
    out: list[dict[str, Any]] = []
    for r in rows:
        key = _title_key(r["title"])
        if key in seen:
            continue
        seen.add(key)
        d = to_public(r)
        if r["high_count"]:
            d["reason"] = (f"{r['high_count']} readers who rated “{src['title']}” highly also rated this "
                           f"highly ({r['co_count']} readers liked or read both).")
        else:
            d["reason"] = f"{r['co_count']} readers who liked or read “{src['title']}” also liked or read this."
        d["kind"] = "also_liked"
        out.append(d)
        if len(out) >= k:
            break
    return out


async def _vector_for(db: Any, embedder: Any, row: dict[str, Any]) -> np.ndarray:
    got = await db.fetchrow("SELECT embedding FROM book_embeddings WHERE isbn13 = %s", row["isbn13"])
    if got is not None:
        return np.asarray(got["embedding"], dtype=np.float32)
    vec = await asyncio.to_thread(embedder.embed_one, book_text(row["title"], row["author"], row["publisher"]))
    await db.execute(
        "INSERT INTO book_embeddings (isbn13, embedding, model) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        row["isbn13"], vec, getattr(embedder, "name", ""),
    )
    return vec


async def similar(db: Any, embedder: Any, isbn: str, k: int = 5) -> list[dict[str, Any]]:
    isbn13 = normalize_isbn(isbn)
    src = await db.fetchrow("SELECT isbn13, title, author, publisher FROM books WHERE isbn13 = %s", isbn13)
    if src is None:
        raise Missing(f"No book with ISBN {isbn} in the catalog.", code="unknown_isbn")
    vec = await _vector_for(db, embedder, src)
    rows = await db.fetch(
        "SELECT b.*, s.rating_count, s.rating_avg, 1 - (e.embedding <=> %s) AS sim FROM"
        " (SELECT isbn13, embedding FROM book_embeddings WHERE isbn13 <> %s"
        "  ORDER BY embedding <=> %s LIMIT %s) e"
        " JOIN books b ON b.isbn13 = e.isbn13 LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
        " ORDER BY sim DESC, coalesce(s.rating_count, 0) DESC",
        vec, isbn13, vec, k * 4,
    )
    seen = {_title_key(src["title"])}
    out: list[dict[str, Any]] = []
    for r in rows:
        key = _title_key(r["title"])
        if key in seen:
            continue
        seen.add(key)
        d = to_public(r)
        same_author = src["author"] and r["author"].lower() == src["author"].lower()
        lead = f"Also by {r['author']}; " if same_author else ""
        d["reason"] = (f"{lead}close to “{src['title']}” in title, author and publisher "
                       f"(semantic similarity {float(r['sim']):.2f}).")
        d["kind"] = "similar"
        out.append(d)
        if len(out) >= k:
            break
    return out


async def embed_catalog_batch(db: Any, embedder: Any, limit: int = 1000, *, batch_size: int = 256) -> int:
    """Embed up to ``limit`` books that have no embedding yet (most-rated first); return how many."""
    rows = await db.fetch(
        "SELECT b.isbn13, b.title, b.author, b.publisher FROM books b"
        " LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
        " WHERE NOT EXISTS (SELECT 1 FROM book_embeddings e WHERE e.isbn13 = b.isbn13)"
        " ORDER BY coalesce(s.rating_count, 0) DESC, b.isbn13 LIMIT %s",
        int(limit),
    )
    done = 0
    model = getattr(embedder, "name", "")
    for i in range(0, len(rows), batch_size):
        part = rows[i : i + batch_size]
        texts = [book_text(r["title"], r["author"], r["publisher"]) for r in part]
        vecs = await asyncio.to_thread(embedder.embed, texts, batch_size)
        async with db.pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO book_embeddings (isbn13, embedding, model) VALUES (%s, %s, %s)"
                " ON CONFLICT (isbn13) DO NOTHING",
                [(r["isbn13"], v, model) for r, v in zip(part, vecs, strict=True)],
            )
        done += len(part)
    return done
