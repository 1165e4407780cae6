"""Books mentioned in free text: ISBNs, titles and author names (best first)."""

from __future__ import annotations

import re
from typing import Any

from memory.commerce import BadRequest
from memory.commerce.catalog.books import BOOK_COLS, fetch, get_books, like, normalize_isbn, to_public

__all__ = ["match_books"]

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


def _phrase(words: list[str]) -> bool:
    """Three consecutive words worth a phrase pattern: a content word among them, 7+ letters."""
    return any(w.lower() not in _STOP for w in words) and sum(map(len, words)) >= 7


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
    pairs = [
        not (a.lower() in _STOP and b.lower() in _STOP) and len(a) + len(b) >= 7
        for a, b in zip(words, words[1:], strict=False)
    ]
    for k, ok in enumerate(pairs):
        if ok:
            patterns.append(like(f"{words[k]} {words[k + 1]}"))
        elif k + 2 < len(words) and not pairs[k + 1] and _phrase(words[k : k + 3]):
            patterns.append(like(" ".join(words[k : k + 3])))  # short words: "Life of Pi"
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
            f" SELECT {BOOK_COLS}, m.ts, m.au, length(m.short) AS slen,"
            "  CASE WHEN m.ts >= 0.8 THEN m.ts + least(length(m.short), 60) / 600.0 + 0.1 * m.au"
            "       ELSE 0.6 * m.au END AS match_score,"
            "  CASE WHEN m.ts >= 0.8 THEN 'title' ELSE 'author' END AS match"
            " FROM m JOIN books b ON b.isbn13 = m.isbn13 LEFT JOIN book_stats s ON s.isbn13 = b.isbn13"
            " WHERE (m.ts >= 0.8 AND length(m.short) >= 3) OR m.au >= 0.85"
            " ORDER BY match_score DESC, coalesce(s.rating_count, 0) DESC LIMIT %(limit)s"
        )
        rows = await fetch(db, sql, params)
        titles: set[tuple[str, str]] = set()
        named: set[str] = set()  # the words of the titles matched so far
        for r in rows:
            key = (r["title"].lower(), r["author"].lower())
            if r["isbn13"] in seen or key in titles:
                continue
            if r["match"] == "author":
                names = _WORD.findall(r["author"].lower())
                if len(names) == 1 and names[0] in named:
                    continue  # a one-word author ("LIFE") that is only a word of a title mentioned
            else:
                named.update(_WORD.findall(r["title"].lower()))
            titles.add(key)
            seen.add(r["isbn13"])
            d = to_public(r)
            d["match"] = r["match"]
            d["match_score"] = round(float(r["match_score"]), 3)
            out.append(d)
            if len(out) >= limit:
                break
    return out[:limit]
