"""Catalog reads: ISBN normalisation, search (trigram + semantic), get_book and entity matching.

Lexical search uses pg_trgm word similarity over title and author (GIN indexes); semantic search
uses the pgvector HNSW index over the embedded part of the catalog (book_embeddings). Both feed one
candidate set that is scored, filtered, sorted and paginated inside a single SQL statement.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from typing import Any, Literal

import numpy as np

from memory.commerce import CURRENCY, BadRequest, Missing

__all__ = [
    "MAX_PAGE_SIZE",
    "Sort",
    "book_text",
    "format_cents",
    "get_book",
    "get_books",
    "isbn13_to_10",
    "match_books",
    "normalize_isbn",
    "search_books",
    "to_public",
]

Sort = Literal["relevance", "title", "year", "price"]
MAX_PAGE_SIZE = 50
MAX_OFFSET = 10_000
COUNT_CAP = 1_000
SEM_K = 40
DEMO_NOTE = "Prices and stock are generated demo values (the Book-Crossing data has none)."

_ISBN_CHARS = re.compile(r"[\s\-\u2010-\u2015]")


_W10 = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_W13 = (1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3)
_RE10 = re.compile(r"[0-9]{9}[0-9X]")
_RE13 = re.compile(r"97[89][0-9]{10}")


def _check10(d9: str) -> str:
    r = (11 - (sum(map(int.__mul__, _W10, d9.encode())) - 48 * 54) % 11) % 11
    return "X" if r == 10 else chr(48 + r)


def _check13(d12: str) -> str:
    return chr(48 + (10 - (sum(map(int.__mul__, _W13, d12.encode())) - 48 * 24) % 10) % 10)


def normalize_isbn(raw: object) -> str:
    """Return the ISBN-13 for an ISBN-10 or ISBN-13 (hyphens/spaces ignored); BadRequest if invalid."""
    s = _ISBN_CHARS.sub("", str(raw or "")).upper()
    if s.startswith("ISBN"):
        s = s[4:].lstrip(":")
    if not s:
        raise BadRequest("An ISBN is required.", code="bad_isbn")
    if _RE10.fullmatch(s):
        if _check10(s[:9]) != s[9]:
            raise BadRequest(f"ISBN {raw} has a bad check digit.", code="bad_isbn")
        d12 = "978" + s[:9]
        return d12 + _check13(d12)
    if _RE13.fullmatch(s):
        if _check13(s[:12]) != s[12]:
            raise BadRequest(f"ISBN {raw} has a bad check digit.", code="bad_isbn")
        return s
    raise BadRequest(f"{str(raw)[:40]!r} is not an ISBN (expected 10 or 13 digits).", code="bad_isbn")


def isbn13_to_10(isbn13: str) -> str | None:
    if not isbn13.startswith("978"):
        return None
    return isbn13[3:12] + _check10(isbn13[3:12])


def format_cents(cents: int, currency: str = CURRENCY) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    sym = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{sym}{cents // 100}.{cents % 100:02d}"


def book_text(title: str, author: str, publisher: str) -> str:
    """The text embedded for a book (title + author + publisher)."""
    parts = [title.strip()]
    if author:
        parts.append(f"by {author.strip()}")
    if publisher:
        parts.append(f"({publisher.strip()})")
    return " ".join(parts)


def to_public(row: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A JSON-able book dict; prices always carry their demo flag."""
    out: dict[str, Any] = {
        "isbn": row["isbn13"],
        "isbn10": row.get("isbn10"),
        "title": row["title"],
        "author": row["author"],
        "year": row.get("year"),
        "publisher": row.get("publisher", ""),
        "price_cents": int(row["price_cents"]),
        "currency": row.get("currency") or CURRENCY,
        "price_display": format_cents(int(row["price_cents"]), row.get("currency") or CURRENCY)
        + (" (demo price)" if row.get("demo") else ""),
        "demo_price": bool(row.get("demo")),
        "in_stock": int(row["stock"]) > 0,
        "stock": int(row["stock"]),
        "cover_url": row.get("cover_url"),
        "rating_count": int(row.get("rating_count") or 0),
    }
    if row.get("rating_avg") is not None:
        out["rating_avg"] = round(float(row["rating_avg"]), 2)
    if full:
        out["description"] = row.get("description") or ""
        out["genres"] = list(row.get("genres") or [])
    if row.get("score") is not None:
        out["score"] = round(float(row["score"]), 4)
    return out


_BOOK_COLS = (
    "b.isbn13, b.isbn10, b.title, b.author, b.year, b.publisher, b.price_cents, b.currency, b.stock,"
    " b.cover_url, b.demo, s.rating_count, s.rating_avg"
)


async def get_book(db: Any, isbn: str) -> dict[str, Any]:
    isbn13 = normalize_isbn(isbn)
    row = await db.fetchrow(
        f"SELECT {_BOOK_COLS}, b.description, b.genres FROM books b"
        " LEFT JOIN book_stats s USING (isbn13) WHERE b.isbn13 = %s",
        isbn13,
    )
    if row is None:
        raise Missing(f"No book with ISBN {isbn} in the catalog.", code="unknown_isbn")
    return to_public(row, full=True)


async def get_books(db: Any, isbn13s: list[str]) -> dict[str, dict[str, Any]]:
    rows = await db.fetch(
        f"SELECT {_BOOK_COLS} FROM books b LEFT JOIN book_stats s USING (isbn13) WHERE b.isbn13 = ANY(%s)",
        list(isbn13s),
    )
    return {r["isbn13"]: r for r in rows}


async def _fetch(db: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with db.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# --- query embeddings (small LRU: repeated queries are common in chat) ---
_QCACHE: OrderedDict[str, np.ndarray] = OrderedDict()


async def _embed_query(embedder: Any, text: str) -> np.ndarray:
    key = text.strip().lower()
    cached = _QCACHE.get(key)
    if cached is not None:
        _QCACHE.move_to_end(key)
        return cached
    vec: np.ndarray = await asyncio.to_thread(embedder.embed_one, text)
    _QCACHE[key] = vec
    if len(_QCACHE) > 2048:
        _QCACHE.popitem(last=False)
    return vec


_INFLIGHT: list[asyncio.Future[np.ndarray]] = []


def _speculate(embedder: Any, q: str) -> asyncio.Future[np.ndarray] | None:
    if q.strip().lower() in _QCACHE:
        return asyncio.ensure_future(_embed_query(embedder, q))
    _INFLIGHT[:] = [t for t in _INFLIGHT if not t.done()]
    if _INFLIGHT:
        return None
    task = asyncio.ensure_future(_embed_query(embedder, q))
    _INFLIGHT.append(task)
    return task


def _filters(
    params: dict[str, Any],
    author: str | None,
    publisher: str | None,
    year_min: int | None,
    year_max: int | None,
    price_min_cents: int | None,
    price_max_cents: int | None,
    in_stock: bool | None,
) -> list[str]:
    where: list[str] = []
    if author and author.strip():
        params["author"] = _like(author.strip())
        where.append("b.author ILIKE %(author)s")
    if publisher and publisher.strip():
        params["publisher"] = _like(publisher.strip())
        where.append("b.publisher ILIKE %(publisher)s")
    for name, val, op, col in (
        ("year_min", year_min, ">=", "b.year"),
        ("year_max", year_max, "<=", "b.year"),
        ("price_min", price_min_cents, ">=", "b.price_cents"),
        ("price_max", price_max_cents, "<=", "b.price_cents"),
    ):
        if val is not None:
            if isinstance(val, bool) or not isinstance(val, int):
                raise BadRequest(f"{name} must be an integer.")
            params[name] = val
            where.append(f"{col} {op} %({name})s")
    if in_stock is True:
        where.append("b.stock > 0")
    elif in_stock is False:
        where.append("b.stock = 0")
    return where


_ORDER = {
    "title": "lower(b.title) ASC, b.isbn13",
    "year": "b.year DESC NULLS LAST, b.isbn13",
    "price": "b.price_cents ASC, b.isbn13",
}
_LEX = "greatest(word_similarity(%(q)s, {t}.title), 0.9 * word_similarity(%(q)s, {t}.author))"
_POP = "0.04 * ln(1 + coalesce(s.rating_count, 0)) / ln(2600.0)"
_SCORE_LEX = 0.75
_SCORE_SEM = 0.25


def _score(lex: float, sem: float, rating_count: int | None) -> float:
    import math

    return (
        _SCORE_LEX * lex
        + _SCORE_SEM * max(sem - 0.25, 0.0) / 0.75
        + 0.04 * math.log1p(rating_count or 0) / math.log(2600.0)
    )


_SEARCH_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
    ]
)
_QWORD = re.compile(r"[^\W_]+", re.UNICODE)
CANDIDATE_CAP = 300


def _query_words(q: str) -> list[str]:
    words = [w for w in _QWORD.findall(q.lower()) if len(w) >= 3 and w not in _SEARCH_STOP]
    return list(dict.fromkeys(words))[:8]


def _words_cond(params: dict[str, Any], words: list[str], skip: int | None = None) -> str:
    parts = []
    for k, w in enumerate(words):
        if k == skip:
            continue
        params[f"w{k}"] = _like(w)
        parts.append(f"(b.title ILIKE %(w{k})s OR b.author ILIKE %(w{k})s)")
    return "(" + " AND ".join(parts) + ")"


def _fuzzy_query(q: str) -> str:
    """The query cut to its first words: trigram index scans grow with the query's length."""
    words = q.split()
    out = " ".join(words[:5])
    return out[:40].rsplit(" ", 1)[0] if len(out) > 40 and " " in out[:40] else out[:40]


async def _lexical(
    db: Any, tier: str, fsql: str, params: dict[str, Any], order: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Matches of the query in one tier, ordered and cut; and their count (capped).

    Tiers: "hot_words" / "words" (every query word as a substring, in the most-read books / everywhere),
    "hot" (fuzzy over the most-read books), "words1" (all words but one: one misspelt word), "all"
    (fuzzy over everything). Substring tiers keep at most CANDIDATE_CAP shortest matching titles.
    """
    params = dict(params)
    params["fq"] = _fuzzy_query(params["q"])
    cap = ""
    words = _query_words(params["q"])
    if tier in ("hot_words", "hot"):
        cond = (
            _words_cond(params, words).replace("b.", "h.")
            if tier == "hot_words"
            else "(%(fq)s <%% h.title OR %(fq)s <%% h.author)"
        )
        source = f"SELECT h.isbn13, {_LEX.format(t='h')} AS lex FROM book_search_hot h WHERE {cond}"
    elif tier in ("words", "words1"):
        if tier == "words":
            cond = _words_cond(params, words)
        else:
            cond = "(" + " OR ".join(_words_cond(params, words, k) for k in range(len(words))) + ")"
        source = (
            f"SELECT c.isbn13, {_LEX.format(t='c')} AS lex FROM (SELECT b.isbn13, b.title, b.author FROM books b"
            f" WHERE {cond}{fsql} ORDER BY length(b.title) LIMIT {CANDIDATE_CAP}) c"
        )
    else:
        source = (
            f"SELECT b.isbn13, {_LEX.format(t='b')} AS lex FROM books b"
            " WHERE (%(fq)s <%% b.title OR %(fq)s <%% b.author OR lower(b.title) = lower(%(q)s))"
        )
    if order == "relevance":
        order = f"({_SCORE_LEX} * m.lex + {_POP}) DESC, b.isbn13"
    sql = (
        f"WITH m AS ({source}{cap}) SELECT {_BOOK_COLS}, m.lex, count(*) OVER () AS total"
        " FROM m JOIN books b ON b.isbn13 = m.isbn13 LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
        f" WHERE m.lex >= 0.3{fsql} ORDER BY {order} LIMIT %(n)s OFFSET %(o)s"
    )
    rows = await _fetch(db, sql, {**params, "n": limit, "o": offset})
    if not rows and offset:
        rows0 = await _fetch(db, sql, {**params, "n": 1, "o": 0})
        return [], int(rows0[0]["total"]) if rows0 else 0
    return rows, int(rows[0]["total"]) if rows else 0


async def _candidates(
    db: Any, fsql: str, params: dict[str, Any], order: str, need: int, cut: int, skip: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """Run the tiers until enough matches are found; merged rows, count, count-is-partial."""
    words = _query_words(params["q"])
    if order != "relevance":  # a full, exactly ordered list of substring (else fuzzy) matches
        tiers = ["words", "all"] if words else ["all"]
    else:
        tiers = (["hot_words", "words"] if words else []) + ["hot"]
        tiers += ["words1"] if len(words) >= 3 else []
        tiers += ["all"]
    merged: dict[str, dict[str, Any]] = {}
    total = 0
    for k, tier in enumerate(tiers):
        rows, n = await _lexical(db, tier, fsql, params, order, cut, skip)
        if order != "relevance":
            if n or k == len(tiers) - 1:
                return rows, n, n >= CANDIDATE_CAP
            continue
        for r in rows:
            merged.setdefault(r["isbn13"], r)
        total = max(total, n, len(merged))
        if total >= need:
            return list(merged.values()), total, tier != "all"
        if tier in ("hot_words", "words") and any(float(r["lex"]) >= 0.9 for r in merged.values()):
            return list(merged.values()), total, True  # the query names a title: no need for fuzzy tiers
    return list(merged.values()), total, False


async def _semantic(
    db: Any, vec: np.ndarray, fsql: str, params: dict[str, Any], lex_ids: list[str]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Nearest embedded books (filtered) with their lexical scores; and similarities of ``lex_ids``."""
    p = {**params, "v": vec, "k": SEM_K, "ids": lex_ids}
    near = await _fetch(
        db,
        f"SELECT {_BOOK_COLS}, e.sem, {_LEX.format(t='b')} AS lex FROM"
        " (SELECT isbn13, 1 - (embedding <=> %(v)s) AS sem FROM book_embeddings"
        "  ORDER BY embedding <=> %(v)s LIMIT %(k)s) e"
        " JOIN books b ON b.isbn13 = e.isbn13 LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
        f" WHERE true{fsql}",
        p,
    )
    sims: dict[str, float] = {}
    if lex_ids:
        for r in await _fetch(
            db,
            "SELECT isbn13, 1 - (embedding <=> %(v)s) AS sem FROM book_embeddings WHERE isbn13 = ANY(%(ids)s)",
            p,
        ):
            sims[r["isbn13"]] = float(r["sem"])
    return near, sims


async def search_books(
    db: Any,
    embedder: Any | None,
    query: str | None = None,
    *,
    author: str | None = None,
    publisher: str | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    price_min_cents: int | None = None,
    price_max_cents: int | None = None,
    in_stock: bool | None = None,
    sort: Sort = "relevance",
    page: int = 1,
    page_size: int = 10,
    semantic: bool = True,
) -> dict[str, Any]:
    if sort not in ("relevance", "title", "year", "price"):
        raise BadRequest("sort must be one of relevance, title, year, price.")
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise BadRequest("page must be 1 or more.")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
    offset = (page - 1) * page_size
    if offset >= MAX_OFFSET:
        raise BadRequest(f"Pages beyond {MAX_OFFSET // page_size} are not available; narrow the search.")
    q = " ".join((query or "").split())[:200]
    params: dict[str, Any] = {}
    where = _filters(
        params, author, publisher, year_min, year_max, price_min_cents, price_max_cents, in_stock
    )
    fsql = (" AND " + " AND ".join(where)) if where else ""
    capped = False
    if q:
        params["q"] = q
        use_sem = semantic and embedder is not None and len(q) >= 3 and sort == "relevance"
        need = offset + page_size
        cut = max(need, 50) if sort == "relevance" else page_size
        skip = 0 if sort == "relevance" else offset
        order = sort if sort == "relevance" else _ORDER[sort]
        # Embed the query while the lexical tiers run (at most one speculative embedding in flight).
        task = _speculate(embedder, q) if use_sem else None
        rows, total, capped = await _candidates(db, fsql, params, order, need, cut, skip)
        best = max((float(r["lex"]) for r in rows), default=0.0)
        if use_sem and (best >= 0.9 or (len(rows) >= need and best >= 0.8)):
            use_sem = False  # the words name a title/author well: matching by meaning adds little here
        if use_sem:
            vec = await task if task is not None else await _embed_query(embedder, q)
            near, sims = await _semantic(db, vec, fsql, params, [r["isbn13"] for r in rows])
            merged: dict[str, dict[str, Any]] = {}
            for r in rows:
                merged[r["isbn13"]] = {**r, "sem": sims.get(r["isbn13"], 0.0)}
            extra = 0
            for r in near:
                if r["isbn13"] not in merged and (float(r["lex"]) >= 0.3 or float(r["sem"]) >= 0.45):
                    merged[r["isbn13"]] = dict(r)
                    extra += 1
            for r in merged.values():
                r["score"] = _score(float(r["lex"]), float(r["sem"]), r.get("rating_count"))
            ranked = sorted(merged.values(), key=lambda r: (-r["score"], r["isbn13"]))
            total += extra
            rows = ranked[offset : offset + page_size]
        else:
            for r in rows:
                r["score"] = _score(float(r["lex"]), 0.0, r.get("rating_count"))
            if sort == "relevance":
                rows = sorted(rows, key=lambda r: (-r["score"], r["isbn13"]))[offset : offset + page_size]
    else:
        params.update({"n": page_size, "o": offset})
        rows = []
        if sort == "relevance":  # most-read first, driven by the popularity index
            rows = await _fetch(
                db,
                f"SELECT {_BOOK_COLS} FROM book_stats s JOIN books b ON b.isbn13 = s.isbn13 WHERE true{fsql}"
                " ORDER BY s.rating_count DESC, s.isbn13 LIMIT %(n)s OFFSET %(o)s",
                params,
            )
            if len(rows) < page_size:
                rows = []
        if not rows:
            order = "coalesce(s.rating_count, 0) DESC, b.isbn13" if sort == "relevance" else _ORDER[sort]
            rows = await _fetch(
                db,
                f"WITH p AS (SELECT b.* FROM books b LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
                f" WHERE true{fsql} ORDER BY {order} LIMIT %(n)s OFFSET %(o)s)"
                f" SELECT {_BOOK_COLS} FROM p b LEFT JOIN book_stats s ON s.isbn13 = b.isbn13 ORDER BY {order}",
                params,
            )
        cnt = await _fetch(
            db,
            f"SELECT count(*) AS n FROM (SELECT 1 FROM books b WHERE true{fsql} LIMIT {COUNT_CAP + 1}) x",
            params,
        )
        total = int(cnt[0]["n"]) if cnt else 0
        capped = total > COUNT_CAP
        total = min(total, COUNT_CAP)
    results = [to_public(r) for r in rows]
    demo = any(r["demo_price"] for r in results)
    return {
        "query": q or None,
        "total": total,
        "total_is_lower_bound": capped,
        "page": page,
        "page_size": page_size,
        "sort": sort,
        "results": results,
        "demo_price": demo,
        "note": DEMO_NOTE if demo else None,
    }


_ISBN_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])(?:ISBN(?:-1[03])?:?\s*)?((?:97[89][\s-]?)?(?:[0-9][\s-]?){9}[0-9Xx])(?![0-9])"
)
_WORD = re.compile(r"[A-Za-z0-9\u00C0-\u024F']+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "book",
        "books",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "have",
        "i",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "show",
        "tell",
        "that",
        "the",
        "there",
        "this",
        "to",
        "want",
        "what",
        "which",
        "who",
        "with",
        "would",
        "you",
        "your",
        "any",
        "about",
        "order",
        "buy",
        "get",
        "find",
        "need",
        "like",
        "looking",
        "stock",
        "price",
        "cost",
        "how",
        "much",
        "many",
        "copies",
        "copy",
        "title",
        "author",
        "novel",
    ]
)


async def match_books(db: Any, text: str, limit: int = 5) -> list[dict[str, Any]]:
    """Books whose ISBN, title or author is mentioned in free text (best first)."""
    text = (text or "")[:1000]
    limit = max(1, min(int(limit), 20))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    isbns: list[str] = []
    for m in _ISBN_IN_TEXT.finditer(text):
        try:
            isbns.append(normalize_isbn(m.group(1)))
        except BadRequest:
            continue
    if isbns:
        found = await get_books(db, isbns)
        for i in isbns:
            if i in found and i not in seen:
                seen.add(i)
                out.append({**to_public(found[i]), "match": "isbn", "match_score": 1.0})
    words = [w for w in _WORD.findall(text)]
    content = [w for w in words if w.lower() not in _STOP and len(w) >= 2]
    patterns: list[str] = []
    for a, b in zip(words, words[1:], strict=False):
        if a.lower() in _STOP and b.lower() in _STOP:
            continue
        if len(a) + len(b) >= 7:
            patterns.append(_like(f"{a} {b}"))
    for w in content:
        if len(w) >= 4 and (w[0].isupper() or w.isdigit()):
            patterns.append(w.replace("\\", "").replace("%", "").replace("_", ""))
    patterns = list(dict.fromkeys(patterns))[:24]
    if patterns and len(out) < limit:
        params: dict[str, Any] = {"t": text, "limit": limit * 4}
        conds = []
        for k, pat in enumerate(patterns):
            params[f"p{k}"] = pat
            conds.append(f"b.title ILIKE %(p{k})s OR b.author ILIKE %(p{k})s")
        sql = (
            "WITH c AS (SELECT b.isbn13, b.title, b.author,"
            "  regexp_replace(b.title, '\\s*[\\(\\[].*$', '') AS short FROM books b"
            f"  WHERE {' OR '.join(conds)} LIMIT 3000),"
            " m AS (SELECT c.*, word_similarity(c.short, %(t)s) AS ts, word_similarity(c.author, %(t)s) AS au"
            "  FROM c)"
            f" SELECT {_BOOK_COLS}, m.ts, m.au, length(m.short) AS slen,"
            "  CASE WHEN m.ts >= 0.8 THEN m.ts + least(length(m.short), 60) / 600.0 + 0.1 * m.au"
            "       ELSE 0.6 * m.au END AS match_score,"
            "  CASE WHEN m.ts >= 0.8 THEN 'title' ELSE 'author' END AS match"
            " FROM m JOIN books b ON b.isbn13 = m.isbn13 LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
            " WHERE (m.ts >= 0.8 AND length(m.short) >= 3) OR m.au >= 0.85"
            " ORDER BY match_score DESC, coalesce(s.rating_count, 0) DESC LIMIT %(limit)s"
        )
        rows = await _fetch(db, sql, params)
        titles: set[tuple[str, str]] = set()
        for r in rows:
            key = (r["title"].lower(), r["author"].lower())
            if r["isbn13"] in seen or key in titles:
                continue
            titles.add(key)
            seen.add(r["isbn13"])
            d = to_public(r)
            d["match"] = r["match"]
            d["match_score"] = round(float(r["match_score"]), 3)
            out.append(d)
            if len(out) >= limit:
                break
    return out[:limit]
