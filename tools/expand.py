"""Query expansion (multi-query) and HyDE.

With an LLM (an injected ``async llm(prompt) -> str``; tools never import the agent) the model writes
alternative phrasings and a hypothetical answer passage. Without one (the offline policy):

* expansion = RM3-style pseudo-relevance feedback: the top BM25 chunks the principal may read vote for
  terms (term frequency x chunk weight x idf); the best new terms are appended to the query;
* HyDE = a pseudo-document made of the top dense hits' leading sentences (its embedding sits near the
  centroid of those hits), so the HyDE run pulls in neighbours of the best dense matches.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable

from memory.index.bm25 import analyze, tokenize
from memory.principals import ANONYMOUS, Principal

__all__ = ["expand_query", "hyde", "rm3_terms"]

log = logging.getLogger(__name__)
LLM = Callable[[str], Awaitable[str]]

EXPAND_PROMPT = (
    "Rewrite the question below in {n} different ways that a documentation search engine would match. "
    "Use different words and likely technical terms. One rewrite per line, no numbering, no extra text.\n\n"
    "Question: {query}"
)
HYDE_PROMPT = (
    "Write a short passage (3-5 sentences) in the style of technical documentation that answers the "
    "question below. Do not mention the question; just write the passage.\n\nQuestion: {query}"
)
_LINE_PREFIX = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


async def expand_query(
    query: str,
    n: int = 3,
    *,
    llm: LLM | None = None,
    principal: Principal | None = None,
    feedback_docs: int = 8,
    feedback_terms: int = 6,
) -> list[str]:
    """Rewrite a question into up to n extra search queries; the original always comes first."""
    query = query.strip()
    if not query:
        return []
    if llm is not None:
        try:
            raw = await llm(EXPAND_PROMPT.format(n=n, query=query))
            lines = [_LINE_PREFIX.sub("", line).strip().strip('"') for line in raw.splitlines()]
            extra = [line for line in lines if line and line.lower() != query.lower()]
            return [query, *list(dict.fromkeys(extra))[:n]]
        except Exception as exc:  # noqa: BLE001 - expansion is optional: fall back to offline
            log.warning("LLM query expansion failed (%s); using pseudo-relevance feedback", exc)
    terms = await rm3_terms(query, principal=principal, docs=feedback_docs, terms=feedback_terms)
    if not terms:
        return [query]
    return [query, f"{query} {' '.join(terms)}"][: n + 1]


async def rm3_terms(
    query: str, *, principal: Principal | None = None, docs: int = 8, terms: int = 6
) -> list[str]:
    """Feedback terms for ``query`` from its top BM25 chunks (only chunks the principal may read)."""
    from tools.knowledge import get_index

    index = get_index()
    principal = principal or ANONYMOUS
    hits = await index.keyword(query, docs, principal.scopes)
    if not hits:
        return []
    bm25 = getattr(index, "bm25", None)
    vocab, df, n_docs = (await bm25.term_stats()) if bm25 is not None else ({}, None, 0)
    q_stems = set(tokenize(query))
    top = max(h.score for h in hits) or 1.0
    weights: Counter[str] = Counter()
    surface: dict[str, Counter[str]] = {}
    for h in hits:
        words = analyze(h.text)
        if not words:
            continue
        stems = tokenize(" ".join(words))
        tf = Counter(stems)
        w_doc = math.exp(h.score / top - 1.0)  # relative query likelihood of this feedback chunk
        for stem, word in zip(stems, words, strict=False):
            surface.setdefault(stem, Counter())[word] += 1
        for stem, c in tf.items():
            if stem in q_stems or stem.isdigit() or len(stem) < 3:
                continue
            idf = 1.0
            if df is not None and stem in vocab and n_docs:
                idf = math.log(1 + (n_docs - df[vocab[stem]] + 0.5) / (df[vocab[stem]] + 0.5))
            weights[stem] += w_doc * (c / len(stems)) * idf  # type: ignore[assignment]
    out = []
    for stem, _w in weights.most_common(terms):
        out.append(surface[stem].most_common(1)[0][0] if stem in surface else stem)
    return out


async def hyde(
    query: str,
    *,
    llm: LLM | None = None,
    principal: Principal | None = None,
    docs: int = 3,
    chars: int = 400,
) -> str | None:
    """Write a hypothetical answer passage for the question (used as an extra dense query)."""
    query = query.strip()
    if not query:
        return None
    if llm is not None:
        try:
            text = (await llm(HYDE_PROMPT.format(query=query))).strip()
            if text:
                return text
        except Exception as exc:  # noqa: BLE001
            log.warning("LLM HyDE failed (%s); using the offline pseudo-document", exc)
    from tools.knowledge import dense_search

    hits = await dense_search(query, docs, principal=principal or ANONYMOUS)
    if not hits:
        return None
    parts = [" ".join(h.text.split())[:chars] for h in hits]
    return f"{query}\n" + "\n".join(parts)
