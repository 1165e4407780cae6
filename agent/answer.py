"""Grounded answers: extractive composition, citations, and the support check for generated text.

Every answer sentence carries a ``[n]`` reference to ``citations[n-1]``; the check drops sentences whose
cited passage does not support them (cosine of sentence embeddings plus content-word overlap).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.policy.rules import content_words

__all__ = [
    "Composed",
    "RELEVANCE_MIN",
    "SUPPORT_MIN",
    "split_sentences",
    "chunk_sentences",
    "citation",
    "extractive",
    "check_grounding",
    "dont_know",
    "SentenceCache",
]

# Chosen on evals/datasets/scenarios.jsonl (answerable vs unanswerable docs questions); see the report.
RELEVANCE_MIN = 0.65
SUPPORT_MIN = 0.55
_SENT_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9(\"'`])|\n\s*[-*•]\s+|\n{2,}")
_REF_RE = re.compile(r"\[(\d{1,2})\]")
_KEY_RE = re.compile(r"(?:/[\w.+-]+)+/?|\b\d+(?:[.,]\d+)*\b|\b[\w-]*\d[\w-]*\b")


def key_tokens(text: str) -> set[str]:
    """Paths and numbers: facts a supported sentence must take verbatim from its source."""
    return {m.group(0).lower().rstrip("/.,") for m in _KEY_RE.finditer(_REF_RE.sub("", text))}


@dataclass
class Composed:
    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    relevance: float = 0.0
    flagged: list[str] = field(default_factory=list)
    grounded: bool = True
    notice: str | None = None  # shown to the user (e.g. a fallback to the offline policy)
    model: str | None = None
    policy: str | None = None


def split_sentences(text: str) -> list[str]:
    parts = [" ".join(p.split()).strip(" -*•") for p in _SENT_SPLIT.split(text)]
    merged: list[str] = []
    for p in parts:
        if not p:
            continue
        # a sentence cut by a code block or list ("... stripped by calling") continues in the next part
        if merged and not re.search(r"[.!?:;)\]\"'”]$", merged[-1]) and len(merged[-1]) < 300:
            merged[-1] = f"{merged[-1]} {p}"
        else:
            merged.append(p)
    out: list[str] = []
    for s in merged:
        if len(s) < 25 or len(re.findall(r"[A-Za-z]", s)) < 15:
            continue
        if len(s) > 360:
            cut = s[:360]
            s = cut[: cut.rfind(" ")] + " …"
        out.append(s)
    return out


def chunk_sentences(text: str) -> list[str]:
    """A chunk's answer sentences (the whole chunk, shortened, when no sentence qualifies)."""
    return split_sentences(text) or [" ".join(text.split())[:360]]


def citation(hit: dict[str, Any], snippet: str | None = None) -> dict[str, Any]:
    text = snippet or " ".join(str(hit.get("text", "")).split())[:240]
    return {
        "source": hit.get("source"),
        "section": hit.get("section") or "",
        "page": hit.get("page"),
        "snippet": text,
        "chunk_id": hit.get("chunk_id"),
    }


def _key(hit: dict[str, Any]) -> tuple[Any, int, int]:
    """A chunk's cache key: its id plus its text (ids are per database and a re-ingest makes new ones,
    but a process may serve several databases, e.g. tests, so the id alone is not enough)."""
    text = str(hit.get("text", ""))
    return (hit.get("chunk_id"), len(text), hash(text))


class SentenceCache:
    """Sentences and their embeddings per chunk id (LRU), so warm turns embed only the question."""

    def __init__(self, embedder: Any, size: int = 4096) -> None:
        self.embedder = embedder
        self.size = size
        self._data: OrderedDict[tuple[Any, int, int], tuple[list[str], np.ndarray]] = OrderedDict()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()  # used from worker threads (asyncio.to_thread)

    def vector(self, text: str) -> np.ndarray:
        """A question's embedding (LRU: the router, the semantic cache and the answer step share one
        computation; the embedder's own query LRU when it has one)."""
        shared = getattr(self.embedder, "embed_query", None)
        if shared is not None:
            return shared(text)  # type: ignore[no-any-return]
        with self._lock:
            return self._vector(text)

    def _vector(self, text: str) -> np.ndarray:
        vec = self._queries.get(text)
        if vec is None:
            vec = self.embedder.embed_one(text)
            self._queries[text] = vec
            if len(self._queries) > 1024:
                self._queries.popitem(last=False)
        else:
            self._queries.move_to_end(text)
        return vec

    async def prefetch(self, db: Any, hits: list[dict[str, Any]]) -> None:
        """Load the sentence vectors of hits not in memory from the embedding cache (precomputed by
        tools.passages in the background; embedded now and cached otherwise), off the event loop."""
        from memory.documents.ingest import embed_cached

        with self._lock:
            missing = [h for h in hits if _key(h) not in self._data]
        if not missing or db is None:
            return
        sents = [chunk_sentences(h["text"]) for h in missing]
        flat = [s for ss in sents for s in ss]
        vecs = await embed_cached(db, self.embedder, flat)
        with self._lock:
            self._put(missing, sents, vecs)

    def _put(self, hits: list[dict[str, Any]], sents: list[list[str]], vecs: np.ndarray) -> None:
        """Store each hit's sentences with its rows of ``vecs`` (flat, in order); evict the oldest."""
        i = 0
        for h, ss in zip(hits, sents, strict=True):
            self._data[_key(h)] = (ss, vecs[i : i + len(ss)])
            i += len(ss)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def get(self, hits: list[dict[str, Any]]) -> list[tuple[list[str], np.ndarray]]:
        with self._lock:
            return self._get(hits)

    def _get(self, hits: list[dict[str, Any]]) -> list[tuple[list[str], np.ndarray]]:
        missing = [h for h in hits if _key(h) not in self._data]
        if missing:
            sents = [chunk_sentences(h["text"]) for h in missing]
            flat = [s for ss in sents for s in ss]
            vecs = self.embedder.embed(flat) if flat else np.zeros((0, 384), dtype=np.float32)
            self._put(missing, sents, vecs)
        out = []
        for h in hits:
            self._data.move_to_end(_key(h))
            out.append(self._data[_key(h)])
        return out


def _lexical(focus_words: set[str], sentence: str) -> float:
    if not focus_words:
        return 0.0
    return len(focus_words & content_words(sentence)) / len(focus_words)


def dont_know(question: str) -> Composed:
    return Composed(
        answer=(
            "I don't know: I could not find anything in the documents available to you that answers this. "
            "Try rephrasing, or ask about another topic."
        ),
        grounded=False,
    )


def extractive(
    question: str,
    focus: str,
    hits: list[dict[str, Any]],
    sentences: SentenceCache,
    *,
    max_sentences: int = 3,
    relevance_min: float = RELEVANCE_MIN,
) -> Composed:
    """The sentences of the top passages that best answer the question, each with its citation."""
    if not hits:
        return dont_know(question)
    qv = sentences.vector(question)
    focus_words = content_words(focus or question)
    scored: list[tuple[float, float, int, int, str]] = []  # (score, cosine, hit index, sentence index, text)
    for hi, (sents, vecs) in enumerate(sentences.get(hits)):
        if not len(sents):
            continue
        cos = vecs @ qv
        for si, s in enumerate(sents):
            sc = float(cos[si]) + 0.25 * _lexical(focus_words, s) - 0.01 * hi
            scored.append((sc, float(cos[si]), hi, si, s))
    if not scored:
        return dont_know(question)
    scored.sort(key=lambda t: t[0], reverse=True)
    best = scored[0][0]
    if best < relevance_min:
        c = dont_know(question)
        c.relevance = best
        return c
    chosen: list[tuple[float, float, int, int, str]] = []
    for item in scored:
        if len(chosen) >= max_sentences:
            break
        if item[0] < max(relevance_min, best - 0.12):
            break
        if any(item[4] == c[4] or len(content_words(item[4]) ^ content_words(c[4])) <= 2 for c in chosen):
            continue
        chosen.append(item)
    # keep passage order within a hit so the answer reads naturally
    best_of: dict[int, float] = {}
    for ch in chosen:
        best_of[ch[2]] = max(best_of.get(ch[2], -9.0), ch[0])
    chosen.sort(key=lambda t: (-best_of[t[2]], t[2], t[3]))
    cites: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    parts: list[str] = []
    for _, _, hi, _, s in chosen:
        h = hits[hi]
        if h["chunk_id"] not in index:
            cites.append(citation(h, s))
            index[h["chunk_id"]] = len(cites)
        else:
            cite = cites[index[h["chunk_id"]] - 1]
            if s not in cite["snippet"]:
                cite["snippet"] = f"{cite['snippet']} … {s}"
        parts.append(f"{s} [{index[h['chunk_id']]}]")
    return Composed(answer=" ".join(parts), citations=cites, relevance=best)


def check_grounding(
    text: str, hits: list[dict[str, Any]], sentences: SentenceCache, *, support_min: float = SUPPORT_MIN
) -> Composed:
    """Keep the generated sentences whose cited passage supports them; build their citations.

    ``[n]`` in ``text`` refers to ``hits[n-1]``. A sentence without a reference, or whose references do
    not support it, is dropped and reported in ``flagged``.
    """
    raw = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]
    if not raw:
        return Composed(answer="", grounded=False)
    cache = sentences.get(hits) if hits else []
    vecs = sentences.embedder.embed([_REF_RE.sub("", s) for s in raw])
    kept: list[tuple[str, list[int]]] = []
    flagged: list[str] = []
    for s, v in zip(raw, vecs, strict=True):
        refs = [int(n) for n in _REF_RE.findall(s) if 1 <= int(n) <= len(hits)]
        ok_refs = []
        for n in refs:
            sents, svecs = cache[n - 1]
            sim = float((svecs @ v).max()) if len(sents) else 0.0
            overlap = len(content_words(s) & content_words(hits[n - 1]["text"])) / max(
                1, len(content_words(s))
            )
            keys_ok = all(k in hits[n - 1]["text"].lower() for k in key_tokens(s))
            if keys_ok and (sim >= support_min or (overlap >= 0.6 and sim >= support_min - 0.15)):
                ok_refs.append(n)
        if ok_refs:
            kept.append((s, ok_refs))
        else:
            flagged.append(s)
    cites: list[dict[str, Any]] = []
    renum: dict[int, int] = {}
    parts: list[str] = []
    for s, ok in kept:
        body = _REF_RE.sub("", s).strip()
        body = re.sub(r"\s+([.,;!?])", r"\1", body)
        marks = []
        for n in ok:
            if n not in renum:
                sents, svecs = cache[n - 1]
                renum[n] = len(cites) + 1
                cites.append(citation(hits[n - 1]))
            marks.append(f"[{renum[n]}]")
        parts.append(f"{body} {''.join(marks)}")
    return Composed(answer=" ".join(parts), citations=cites, flagged=flagged, grounded=bool(parts))
