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
import csv
import gzip
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from memory.commerce import BadRequest, Missing
from memory.commerce.catalog import book_text, normalize_isbn, to_public
from memory.commerce.importer import ImportReport, detect_format, refresh_hot

__all__ = [
    "also_liked",
    "compute_also_liked",
    "embed_catalog_batch",
    "import_ratings",
    "refresh_stats",
    "similar",
]

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]

_ISBN_JUNK = re.compile(r"[^0-9X]")
_WELL_FORMED = re.compile(r"[0-9]{9}[0-9X]|97[89][0-9]{10}")


def _rating_triples(path: Path, fmt: str, report: ImportReport) -> Iterator[tuple[Any, Any, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    if fmt == "jsonl":
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            for text in fh:
                if text.strip():
                    try:
                        r = json.loads(text)
                        yield r.get("user_id"), r.get("isbn"), r.get("rating")
                    except (json.JSONDecodeError, AttributeError):
                        yield None, None, None
        return
    bx = fmt == "bx"
    with opener(path, "rt", encoding="latin-1" if bx else "utf-8-sig", newline="") as fh:  # type: ignore[operator]
        next(fh, None)
        if not bx:
            for row in csv.reader(fh):
                yield (*(row + [None, None, None])[:3],)  # type: ignore[misc]
            return
        for line in fh:
            p = line.rstrip("\r\n").split('";"')
            if len(p) == 3 and p[0][:1] == '"' and p[2][-1:] == '"':
                yield p[0][1:], p[1], p[2][:-1]
            else:  # an unusual line: let the csv module decide
                row = next(
                    csv.reader([line], delimiter=";", quotechar='"', escapechar="\\", doublequote=False), []
                )
                yield (*(row + [None, None, None])[:3],)  # type: ignore[misc]


def _parse_ratings(
    path: Path,
    fmt: str,
    isbn10: dict[str, int],
    isbn13: dict[str, int],
    report: ImportReport,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user ids, book indexes, ratings) with the last rating of each (user, book) kept."""
    users: list[int] = []
    items: list[int] = []
    vals: list[int] = []
    cache: dict[str, int] = {}  # raw ISBN -> book index, -1 invalid, -2 unknown
    bad_isbn = unknown = bad_values = 0
    for user, raw, rating in _rating_triples(path, fmt, report):
        report.read += 1
        raw = raw if isinstance(raw, str) else str(raw or "")
        idx = cache.get(raw)
        if idx is None:
            x = _ISBN_JUNK.sub("", raw.upper())
            if len(x) == 10:
                idx = isbn10.get(x, -2)
            elif len(x) == 13:
                idx = isbn13.get(x, -2)
            else:
                idx = -1
            if idx == -2 and not _WELL_FORMED.fullmatch(x):
                idx = -1
            cache[raw] = idx
        if idx < 0:
            if idx == -1:
                bad_isbn += 1
            else:
                unknown += 1
            continue
        try:
            uid, rv = int(user), int(rating)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            bad_values += 1
            continue
        if not (0 <= rv <= 10 and 0 <= uid < 2**31):
            bad_values += 1
            continue
        users.append(uid)
        items.append(idx)
        vals.append(rv)
        if progress and len(users) % 200_000 == 0:
            progress("ratings", report.read, max(report.read, 1_150_000))
    for reason, n in (
        ("invalid ISBN", bad_isbn),
        ("ISBN not in catalog", unknown),
        ("bad user id or rating", bad_values),
    ):
        if n:
            report.reasons[reason] += n
            report.rejected += n
    u = np.asarray(users, dtype=np.int64)
    it = np.asarray(items, dtype=np.int64)
    v = np.asarray(vals, dtype=np.int16)
    key = u * (1 << 24) + it
    # keep the last occurrence: unique over the reversed arrays
    _, first_rev = np.unique(key[::-1], return_index=True)
    keep = np.sort(len(key) - 1 - first_rev)
    dups = len(key) - len(keep)
    if dups:
        report.reasons["duplicate rating (last one kept)"] += dups
        report.rejected += dups
    return u[keep], it[keep], v[keep]


def _copy_text(cols: list[Any], n: int, start: int, stop: int) -> str:
    return "".join("\t".join(str(c[i]) for c in cols) + "\n" for i in range(start, min(stop, n)))


async def import_ratings(
    db: Any, path: Path | str, *, progress: Progress | None = None, recompute: bool = True
) -> ImportReport:
    """Load ratings (user, ISBN, 0-10; 0 = implicit); ratings of books not in the catalog are skipped.

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
    books = await db.fetch("SELECT isbn13, isbn10 FROM books")
    names = [b["isbn13"] for b in books]
    by13 = {n: i for i, n in enumerate(names)}
    by10 = {b["isbn10"]: i for i, b in enumerate(books) if b["isbn10"]}
    del books
    users, items, vals = await asyncio.to_thread(_parse_ratings, path, fmt, by10, by13, report, progress)
    phases = {"parse": time.perf_counter() - t0}
    isbns = np.asarray(names, dtype=object)[items] if len(items) else np.zeros(0, dtype=object)
    n = len(users)
    async with db.pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cur = await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM ratings) AS empty")
        bulk = bool((await cur.fetchone())["empty"])
        if bulk:  # first load: COPY straight in, build the primary key once at the end
            await conn.execute("ALTER TABLE ratings DROP CONSTRAINT ratings_pkey")
            target = "ratings"
        else:
            await conn.execute(
                "CREATE TEMP TABLE stage_ratings (user_id int, isbn13 text, rating smallint) ON COMMIT DROP"
            )
            target = "stage_ratings"
        cols = [users.tolist(), isbns.tolist(), vals.tolist()]
        async with (
            conn.cursor() as cur,
            cur.copy(f"COPY {target} (user_id, isbn13, rating) FROM STDIN") as cp,
        ):
            for i in range(0, n, 100_000):
                await cp.write(await asyncio.to_thread(_copy_text, cols, n, i, i + 100_000))
        phases["copy"] = time.perf_counter() - t0
        if bulk:
            await conn.execute(
                "ALTER TABLE ratings ADD CONSTRAINT ratings_pkey PRIMARY KEY (user_id, isbn13)"
            )
            report.inserted = n
            stats = _stats_rows(names, items, vals)
            await conn.execute("TRUNCATE book_stats")
            async with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY book_stats (isbn13, rating_count, explicit_count, rating_avg) FROM STDIN"
                ) as cp,
            ):
                await cp.write(stats)
        else:
            cur = await conn.execute(
                "WITH up AS (INSERT INTO ratings AS r (user_id, isbn13, rating) SELECT * FROM stage_ratings"
                " ON CONFLICT (user_id, isbn13) DO UPDATE SET rating = excluded.rating"
                " WHERE r.rating <> excluded.rating RETURNING (xmax = 0) AS inserted)"
                " SELECT count(*) FILTER (WHERE inserted) AS ins, count(*) FILTER (WHERE NOT inserted) AS upd FROM up"
            )
            c = await cur.fetchone()
            report.inserted, report.updated = int(c["ins"]), int(c["upd"])
            report.unchanged = n - report.inserted - report.updated
            await refresh_stats(conn)
        await refresh_hot(conn)
        phases["index+stats"] = time.perf_counter() - t0
    log.info("ratings import phases (cumulative s): %s", {k: round(v, 2) for k, v in phases.items()})
    report.seconds = time.perf_counter() - t0
    if progress:
        progress("ratings", report.read, report.read)
    log.info("ratings import: %s", {k: v for k, v in report.to_dict().items() if k != "examples"})
    if recompute:
        await compute_also_liked(db, progress=progress)
    return report


def _stats_rows(names: list[str], items: np.ndarray, vals: np.ndarray) -> str:
    nb = len(names)
    count = np.bincount(items, minlength=nb)
    explicit = np.bincount(items, weights=(vals > 0), minlength=nb)
    total = np.bincount(items, weights=vals.astype(np.float64), minlength=nb)
    out = []
    for i in np.flatnonzero(count):
        e = int(explicit[i])
        avg = f"{total[i] / e:.4f}" if e else "\\N"
        out.append(f"{names[i]}\t{int(count[i])}\t{e}\t{avg}\n")
    return "".join(out)


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
    data: bytes, names: list[str], min_count: int, max_user_items: int, top_k: int, min_co: int
) -> tuple[list[tuple[str, str, float, int, int]], dict[str, int]]:
    """``data``: "user<TAB>book index<TAB>rating" lines (book index into ``names``)."""
    import scipy.sparse as sp

    flat = np.fromstring(data, dtype=np.int64, sep=" ") if data.strip() else np.zeros(0, np.int64)  # type: ignore[call-overload]
    arr = flat.reshape(-1, 3)
    if not len(arr):
        return [], {"books": 0, "readers": 0, "pairs": 0}
    users, items, high = arr[:, 0], arr[:, 1], arr[:, 2] >= 6
    isbns = np.asarray(names, dtype=object)
    del arr
    counts = np.bincount(items, minlength=len(names))
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
    kept = isbns[keep_items]
    rows = [
        (kept[a], kept[b], float(s), int(k), int(h))
        for a, b, s, k, h in zip(r, c, score, co, hc, strict=True)
    ]
    return rows, {"books": int(len(set(r.tolist()))), "readers": int(len(good)), "pairs": len(rows)}


async def compute_also_liked(
    db: Any,
    *,
    min_count: int = 10,
    max_user_items: int = 200,
    top_k: int = 20,
    min_co: int = 3,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Rebuild ``book_similar`` from ratings (see module docstring); return counts and seconds."""
    t0 = time.perf_counter()
    if progress:
        progress("also_liked", 0, 3)
    buf = bytearray()
    names = [
        r["isbn13"]
        for r in await db.fetch(
            "SELECT isbn13 FROM book_stats WHERE rating_count >= %s ORDER BY isbn13", min_count
        )
    ]
    async with db.pool.connection() as conn:
        async with (
            conn.cursor() as cur,
            cur.copy(
                "COPY (SELECT r.user_id, m.i - 1, r.rating FROM ratings r"
                " JOIN unnest(%s::text[]) WITH ORDINALITY AS m(isbn13, i) ON m.isbn13 = r.isbn13"
                " WHERE r.rating = 0 OR r.rating >= 6) TO STDOUT",
                (names,),
            ) as cp,
        ):
            async for chunk in cp:
                buf += chunk
        if progress:
            progress("also_liked", 1, 3)
        rows, counts = await asyncio.to_thread(
            _neighbours, bytes(buf), names, min_count, max_user_items, top_k, min_co
        )
        del buf
        if progress:
            progress("also_liked", 2, 3)
        async with conn.transaction():
            await conn.execute("TRUNCATE book_similar")
            async with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY book_similar (isbn13, other_isbn13, score, co_count, high_count) FROM STDIN"
                ) as cp,
            ):
                for i in range(0, len(rows), 50_000):
                    await cp.write(
                        "".join(f"{a}\t{b}\t{s:.5f}\t{k}\t{h}\n" for a, b, s, k, h in rows[i : i + 50_000])
                    )
    stats: dict[str, Any] = {**counts, "seconds": round(time.perf_counter() - t0, 2)}
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
        isbn13,
        k * 3,
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
            d["reason"] = (
                f"{r['high_count']} readers who rated “{src['title']}” highly also rated this "
                f"highly ({r['co_count']} readers liked or read both)."
            )
        else:
            d["reason"] = (
                f"{r['co_count']} readers who liked or read “{src['title']}” also liked or read this."
            )
        d["kind"] = "also_liked"
        out.append(d)
        if len(out) >= k:
            break
    return out


async def _vector_for(db: Any, embedder: Any, row: dict[str, Any]) -> np.ndarray:
    got = await db.fetchrow("SELECT embedding FROM book_embeddings WHERE isbn13 = %s", row["isbn13"])
    if got is not None:
        emb = got["embedding"]
        return emb.to_numpy() if hasattr(emb, "to_numpy") else np.asarray(emb, dtype=np.float32)
    vec = await asyncio.to_thread(
        embedder.embed_one, book_text(row["title"], row["author"], row["publisher"])
    )
    await db.execute(
        "INSERT INTO book_embeddings (isbn13, embedding, model) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        row["isbn13"],
        vec,
        getattr(embedder, "name", ""),
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
        vec,
        isbn13,
        vec,
        k * 4,
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
        d["reason"] = (
            f"{lead}close to “{src['title']}” in title, author and publisher "
            f"(semantic similarity {float(r['sim']):.2f})."
        )
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
