"""Catalog search: lexical tiers (substring and trigram), semantic neighbours, filters, pagination.

A relevance search runs cheap, precise tiers first and stops as soon as one answers the query:

1. ``exact``: every query word as a substring of title or author among the most-read books
   (``book_search_hot``, scored on its narrow rows), plus the books whose whole title is the query;
   then ``words``: the same words over the whole catalog (the ``CANDIDATE_CAP`` shortest titles).
2. When no book holds every word (a misspelt one): ``words1``, the books holding all words but one,
   for each left-out word whose companions are rare enough (``WORDS1_CAP``) to be telling; then
   ``hot_fuzzy``, the trigram word similarity (pg_trgm ``<%``) of the query to the most-read books;
   and only when neither found a close match, ``fuzzy``: the same against every title and author,
   the one costly scan (10-30 ms over 271k books, more for queries of common words).
3. Semantic: the nearest embedded books (pgvector HNSW) are merged in unless the words already name
   a title or an author. The query is embedded, and its neighbours fetched, while tier 2 runs.

Scores: 0.75 x word similarity of the query to the title (author x 0.9) + 0.25 x semantic similarity
(rescaled) + 0.04 x log popularity + 0.05 when the whole title is the query. Sorting by title, year
or price orders the substring (else fuzzy) matches exactly, in SQL.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from memory.commerce import BadRequest
from memory.commerce.catalog.books import BOOK_COLS, fetch, like, to_public

__all__ = [
    "CANDIDATE_CAP",
    "COUNT_CAP",
    "DEMO_NOTE",
    "MAX_OFFSET",
    "MAX_PAGE_SIZE",
    "SEM_K",
    "Sort",
    "clear_query_cache",
    "query_words",
    "search_books",
]

Sort = Literal["relevance", "title", "year", "price"]
MAX_PAGE_SIZE = 50
MAX_OFFSET = 10_000
COUNT_CAP = 1_000
SEM_K = 40
CANDIDATE_CAP = 300
DEMO_NOTE = "Prices and stock are generated demo values (the Book-Crossing data has none)."

MIN_LEX = 0.3  # a lexical match below this word similarity is noise
NAMES_IT = 0.9  # the words name a title or an author: no fuzzy tier, no semantic neighbours
NAMES_IT_PAGE = 0.8  # ... nor when a full page of matches is this close
# The fuzzy tiers end early on a match this close: the query's words but one (rare ones) in the title
# or author and the whole query this similar (the `<%` threshold), or a most-read book this similar.
FUZZY_OK = 0.6
HOT_FUZZY_OK = 0.75
WORDS1_CAP = 300  # words left after dropping a misspelt one that match more books tell too little
FUZZY_CAP = 1_000  # trigram matches scored by the catalog-wide fuzzy tier

_SCORE_LEX = 0.75
_SCORE_SEM = 0.25
_SCORE_POP = 0.04
_SCORE_EXACT = 0.05
_LEX = "greatest(word_similarity(%(q)s, {t}.title), 0.9 * word_similarity(%(q)s, {t}.author))"
_EXACT = "(lower({t}.title) = lower(%(q)s))"
_SQL_SCORE = (
    f"({_SCORE_LEX} * m.lex + {_SCORE_EXACT} * m.exact::int"
    f" + {_SCORE_POP} * ln(1 + m.pop) / ln(2600.0)) DESC, m.isbn13"
)
_ORDER = {
    "title": "lower(b.title) ASC, b.isbn13",
    "year": "b.year DESC NULLS LAST, b.isbn13",
    "price": "b.price_cents ASC, b.isbn13",
}
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


def _score(lex: float, sem: float, rating_count: int | None, exact: bool = False) -> float:
    return (
        _SCORE_LEX * lex
        + _SCORE_SEM * max(sem - 0.25, 0.0) / 0.75
        + _SCORE_POP * math.log1p(rating_count or 0) / math.log(2600.0)
        + (_SCORE_EXACT if exact else 0.0)
    )


def query_words(q: str) -> list[str]:
    """The query's content words (3+ letters, no stop words, first 8, lower case)."""
    words = [w for w in _QWORD.findall(q.lower()) if len(w) >= 3 and w not in _SEARCH_STOP]
    return list(dict.fromkeys(words))[:8]


def _fuzzy_query(q: str) -> str:
    """The query cut to its first words: trigram index scans grow with the query's length."""
    words = q.split()
    out = " ".join(words[:5])
    return out[:40].rsplit(" ", 1)[0] if len(out) > 40 and " " in out[:40] else out[:40]


@dataclass
class _Query:
    """One text search: the query, its words, the filter SQL (on ``b``) and the statement parameters."""

    q: str
    words: list[str]
    fsql: str
    params: dict[str, Any]

    @classmethod
    def make(cls, q: str, fsql: str, params: dict[str, Any]) -> _Query:
        words = query_words(q)
        p = {**params, "q": q, "fq": _fuzzy_query(q)}
        for k, w in enumerate(words):
            p[f"w{k}"] = like(w)
        return cls(q, words, fsql, p)

    def word_cond(self, t: str, k: int) -> str:
        return f"({t}.title ILIKE %(w{k})s OR {t}.author ILIKE %(w{k})s)"

    def words_cond(self, t: str, skip: int | None = None) -> str:
        """Every word (but ``skip``) as a substring of the title or author of table alias ``t``."""
        return "(" + " AND ".join(self.word_cond(t, k) for k in range(len(self.words)) if k != skip) + ")"

    def in_books(self, skip: int | None = None, tail: str = "") -> str:
        """``SELECT isbn13, title, author`` of the (filtered) books holding every word but ``skip``."""
        return f"SELECT b.isbn13, b.title, b.author FROM books b WHERE {self.words_cond('b', skip)}{self.fsql}{tail}"


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
        params["author"] = like(author.strip())
        where.append("b.author ILIKE %(author)s")
    if publisher and publisher.strip():
        params["publisher"] = like(publisher.strip())
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


# --- relevance tiers: each returns its best `n` matches (books columns + lex, exact, total) ---


def _ranked(candidates: str) -> str:
    """Score candidates ``c(isbn13, title, author, pop, hit)``, keep the best ``%(n)s``, read their books.

    Word similarities are computed once per candidate (MATERIALIZED) and books / book_stats are read
    only for the rows kept, not for every match of a common word. ``hits`` counts the candidates that
    matched the tier itself (``hit``), not the ones it merely carries along (whole-title matches).
    """
    return (
        f"WITH c AS MATERIALIZED ({candidates}),"
        f" m AS MATERIALIZED (SELECT c.isbn13, c.pop, c.hit, {_LEX.format(t='c')} AS lex,"
        f"  {_EXACT.format(t='c')} AS exact FROM c),"
        " r AS (SELECT m.isbn13, m.lex, m.exact, m.hit, count(*) FILTER (WHERE m.hit) OVER () AS hits FROM m"
        f"  WHERE m.lex >= {MIN_LEX} OR m.exact ORDER BY {_SQL_SCORE} LIMIT %(n)s)"
        f" SELECT {BOOK_COLS}, r.lex, r.exact, r.hit, r.hits FROM r JOIN books b ON b.isbn13 = r.isbn13"
        " LEFT JOIN book_stats s ON s.isbn13 = r.isbn13"
    )


def _books_pop(where: str, *, hit: bool = True) -> str:
    """Candidates from books (with their popularity) matching ``where``."""
    return (
        f"SELECT b.isbn13, b.title, b.author, coalesce(s.rating_count, 0) AS pop, {hit} AS hit FROM books b"
        f" LEFT JOIN book_stats s ON s.isbn13 = b.isbn13 WHERE {where}"
    )


def _tier_sql(tier: str, s: _Query) -> str:
    exact_title = "lower(b.title) = lower(%(q)s)" + s.fsql
    if tier == "exact":  # words in the most-read books, and whole-title matches anywhere
        if not s.words:
            return _ranked(_books_pop(exact_title))
        hot = "SELECT h.isbn13, h.title, h.author, h.pop, true AS hit FROM book_search_hot h"
        if s.fsql:  # filters read books columns
            hot += " JOIN books b ON b.isbn13 = h.isbn13"
        hot += f" WHERE {s.words_cond('h')}{s.fsql}"
        return _ranked(
            f"WITH hw AS ({hot}) SELECT * FROM hw UNION ALL "
            + _books_pop(
                exact_title + " AND NOT EXISTS (SELECT 1 FROM hw WHERE hw.isbn13 = b.isbn13)", hit=False
            )
        )
    if tier == "words":  # every word anywhere in the catalog: the shortest titles
        return _ranked(
            f"WITH w AS ({s.in_books(tail=f' ORDER BY length(b.title) LIMIT {CANDIDATE_CAP}')})"
            " SELECT w.*, coalesce(s.rating_count, 0) AS pop, true AS hit FROM w"
            " LEFT JOIN book_stats s ON s.isbn13 = w.isbn13"
        )
    if tier == "words1":  # one misspelt word: all the others, when they are rare enough to be telling
        variants = [
            f"v{k} AS MATERIALIZED ({s.in_books(k, f' LIMIT {WORDS1_CAP + 1}')})" for k in range(len(s.words))
        ]
        kept = " UNION ".join(
            f"SELECT * FROM v{k} WHERE (SELECT count(*) FROM v{k}) <= {WORDS1_CAP}"
            for k in range(len(s.words))
        )
        return _ranked(
            f"WITH {', '.join(variants)}, w AS ({kept})"
            " SELECT w.*, coalesce(s.rating_count, 0) AS pop, true AS hit FROM w"
            " LEFT JOIN book_stats s ON s.isbn13 = w.isbn13"
        )
    if tier == "hot_fuzzy":  # trigram word similarity of the query against the most-read books
        join = " JOIN books b ON b.isbn13 = h.isbn13" if s.fsql else ""
        return _ranked(
            f"SELECT h.isbn13, h.title, h.author, h.pop, true AS hit FROM book_search_hot h{join}"
            f" WHERE (%(fq)s <%% h.title OR %(fq)s <%% h.author){s.fsql}"
        )
    # "fuzzy": trigram word similarity of the query against every title and author. A query of common
    # words ("The Wra of the") is similar to tens of thousands of titles: score a bounded sample.
    return _ranked(_books_pop(f"(%(fq)s <%% b.title OR %(fq)s <%% b.author){s.fsql} LIMIT {FUZZY_CAP}"))


async def _relevance(
    db: Any, s: _Query, need: int, cut: int, on_fuzzy: Callable[[], None]
) -> tuple[list[dict[str, Any]], int, bool]:
    """Run the tiers until they answer; merged rows (unordered), count, count-is-a-lower-bound."""
    merged: dict[str, dict[str, Any]] = {}
    total, best = 0, 0.0
    params = {**s.params, "n": cut}

    async def run(tier: str) -> float:
        """Merge the tier's matches; the best word similarity of a tier hit so far."""
        nonlocal total, best
        rows = await fetch(db, _tier_sql(tier, s), params)
        for r in rows:
            merged.setdefault(r["isbn13"], r)
        total = max(total, int(rows[0]["hits"]) if rows else 0, sum(bool(r["hit"]) for r in merged.values()))
        best = max([best] + [float(r["lex"]) for r in rows if r["hit"]])
        return best

    for tier in ("exact", "words") if s.words else ("exact",):
        best = await run(tier)
        if total >= need or best >= NAMES_IT:
            return list(merged.values()), max(total, len(merged)), True
    on_fuzzy()  # no book holds every word: start embedding the query while the fuzzy tiers run
    if len(s.words) >= 2 and await run("words1") >= FUZZY_OK:
        return list(merged.values()), max(total, len(merged)), True
    if await run("hot_fuzzy") >= HOT_FUZZY_OK:
        return list(merged.values()), max(total, len(merged)), True
    await run("fuzzy")
    return list(merged.values()), max(total, len(merged)), False


async def _ordered(
    db: Any, s: _Query, order: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """Substring (else fuzzy) matches in an exact SQL order (title, year, price) and their count."""
    for source in ("words", "fuzzy") if s.words else ("fuzzy",):
        if source == "words":
            cands = s.in_books(tail=f" ORDER BY length(b.title) LIMIT {CANDIDATE_CAP}")
        else:
            cands = (
                "SELECT b.isbn13, b.title, b.author FROM books b"
                f" WHERE (%(fq)s <%% b.title OR %(fq)s <%% b.author OR lower(b.title) = lower(%(q)s)){s.fsql}"
            )
        sql = (
            f"WITH c AS MATERIALIZED ({cands}),"
            f" m AS MATERIALIZED (SELECT c.isbn13, {_LEX.format(t='c')} AS lex, {_EXACT.format(t='c')} AS exact"
            "  FROM c)"
            f" SELECT {BOOK_COLS}, m.lex, m.exact, count(*) OVER () AS total"
            " FROM m JOIN books b ON b.isbn13 = m.isbn13 LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
            f" WHERE m.lex >= {MIN_LEX} OR m.exact ORDER BY {order} LIMIT %(n)s OFFSET %(o)s"
        )
        params = {**s.params, "n": limit, "o": offset}
        rows = await fetch(db, sql, params)
        if not rows and offset:
            rows0 = await fetch(db, sql, {**params, "n": 1, "o": 0})
            total = int(rows0[0]["total"]) if rows0 else 0
        else:
            total = int(rows[0]["total"]) if rows else 0
        if total or source == "fuzzy":
            return rows, total, source == "words" and total >= CANDIDATE_CAP
    return [], 0, False  # pragma: no cover - the loop always returns


# --- query embeddings (small LRU: repeated queries are common in chat) ---
_QCACHE: OrderedDict[str, np.ndarray] = OrderedDict()


def clear_query_cache() -> None:
    """Forget the cached query embeddings (benchmarks measure cold queries)."""
    _QCACHE.clear()


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


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # unused neighbours' error must not be reported as never retrieved


async def _nearest(db: Any, embedder: Any, s: _Query) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The query's embedding and its nearest embedded books (filtered), with their lexical scores."""
    vec = await _embed_query(embedder, s.q)
    near = await fetch(
        db,
        f"SELECT {BOOK_COLS}, e.sem, {_LEX.format(t='b')} AS lex, {_EXACT.format(t='b')} AS exact FROM"
        " (SELECT isbn13, 1 - (embedding <=> %(v)s) AS sem FROM book_embeddings"
        "  ORDER BY embedding <=> %(v)s LIMIT %(k)s) e"
        " JOIN books b ON b.isbn13 = e.isbn13 LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
        f" WHERE true{s.fsql}",
        {**s.params, "v": vec, "k": SEM_K},
    )
    return vec, near


async def _similarities(db: Any, vec: np.ndarray, isbn13s: list[str]) -> dict[str, float]:
    """Semantic similarity of the query to each of these books (the embedded ones)."""
    if not isbn13s:
        return {}
    rows = await fetch(
        db,
        "SELECT isbn13, 1 - (embedding <=> %(v)s) AS sem FROM book_embeddings WHERE isbn13 = ANY(%(ids)s)",
        {"v": vec, "ids": isbn13s},
    )
    return {r["isbn13"]: float(r["sem"]) for r in rows}


async def _browse(
    db: Any, fsql: str, params: dict[str, Any], sort: Sort, page_size: int, offset: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """No query: filtered books, most-read first (or by title, year, price); count capped at COUNT_CAP."""
    params = {**params, "n": page_size, "o": offset}
    rows: list[dict[str, Any]] = []
    if sort == "relevance":  # most-read first, driven by the popularity index
        rows = await fetch(
            db,
            f"SELECT {BOOK_COLS} FROM book_stats s JOIN books b ON b.isbn13 = s.isbn13 WHERE true{fsql}"
            " ORDER BY s.rating_count DESC, s.isbn13 LIMIT %(n)s OFFSET %(o)s",
            params,
        )
        if len(rows) < page_size:
            rows = []
    if not rows:
        order = "coalesce(s.rating_count, 0) DESC, b.isbn13" if sort == "relevance" else _ORDER[sort]
        rows = await fetch(
            db,
            f"WITH p AS (SELECT b.* FROM books b LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
            f" WHERE true{fsql} ORDER BY {order} LIMIT %(n)s OFFSET %(o)s)"
            f" SELECT {BOOK_COLS} FROM p b LEFT JOIN book_stats s ON s.isbn13 = b.isbn13 ORDER BY {order}",
            params,
        )
    cnt = await fetch(
        db,
        f"SELECT count(*) AS n FROM (SELECT 1 FROM books b WHERE true{fsql} LIMIT {COUNT_CAP + 1}) x",
        params,
    )
    total = int(cnt[0]["n"]) if cnt else 0
    return rows, min(total, COUNT_CAP), total > COUNT_CAP


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
    if not q:
        rows, total, capped = await _browse(db, fsql, params, sort, page_size, offset)
    elif sort != "relevance":
        s = _Query.make(q, fsql, params)
        rows, total, capped = await _ordered(db, s, _ORDER[sort], page_size, offset)
        for r in rows:
            r["score"] = _score(float(r["lex"]), 0.0, r.get("rating_count"), bool(r["exact"]))
    else:
        s = _Query.make(q, fsql, params)
        need = offset + page_size
        use_sem = semantic and embedder is not None and len(q) >= 3
        nearest: asyncio.Future[tuple[np.ndarray, list[dict[str, Any]]]] | None = None

        def start_semantic() -> None:  # embed the query and find its neighbours while the fuzzy tiers run
            nonlocal nearest
            if use_sem and nearest is None:
                nearest = asyncio.ensure_future(_nearest(db, embedder, s))
                nearest.add_done_callback(_forget)

        rows, total, capped = await _relevance(db, s, need, max(need, 50), start_semantic)
        best = max((float(r["lex"]) for r in rows), default=0.0)
        if best >= NAMES_IT or (len(rows) >= need and best >= NAMES_IT_PAGE):
            use_sem = False  # the words name a title/author well: matching by meaning adds little here
        if use_sem:
            vec, near = await nearest if nearest is not None else await _nearest(db, embedder, s)
            sims = await _similarities(db, vec, [r["isbn13"] for r in rows])
            merged = {r["isbn13"]: {**r, "sem": sims.get(r["isbn13"], 0.0)} for r in rows}
            for r in near:
                if r["isbn13"] not in merged and (float(r["lex"]) >= MIN_LEX or float(r["sem"]) >= 0.45):
                    merged[r["isbn13"]] = dict(r)
                    total += 1
            rows = list(merged.values())
        for r in rows:
            r["score"] = _score(
                float(r["lex"]), float(r.get("sem") or 0.0), r.get("rating_count"), bool(r["exact"])
            )
        rows = sorted(rows, key=lambda r: (-r["score"], r["isbn13"]))[offset : offset + page_size]
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
