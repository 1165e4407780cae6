"""Rerank retrieved chunks.

Default (no cross-encoder weights needed): passage-window max-sim with the bi-encoder. Each candidate
is split into windows of consecutive sentences; the query's best window cosine says how well the best
part of the chunk answers it (a long chunk is no longer diluted by its other parts). The final score
mixes that with the fused retrieval score (both min-max normalised over the candidates).

When ``Settings.rerank_model`` names a sentence-transformers CrossEncoder (a path or a model name
available offline), it scores (query, chunk) pairs instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from memory.index.base import Hit
from tools.deps import current

__all__ = ["rerank", "decisive", "windows", "warm_rerank", "RERANK_DEPTH"]

log = logging.getLogger(__name__)
RERANK_DEPTH = 30
_SENT = re.compile(r"(?<=[.!?;:])\s+(?=[A-Z0-9(\"'`])|\n{2,}|\n(?=[-*\u2022]|\d+[.)]\s)")
_CE_LOCK = threading.Lock()


def windows(text: str, size: int = 2, max_windows: int = 12, max_chars: int = 600) -> list[str]:
    """Sentence windows of ``size`` consecutive sentences (stride 1), at most ``max_windows``."""
    sents = [" ".join(s.split()) for s in _SENT.split(text)]
    sents = [s for s in sents if len(s) > 2]
    if not sents:
        return [" ".join(text.split())[:max_chars]] if text.strip() else []
    if len(sents) <= size:
        return [" ".join(sents)[:max_chars]]
    out = [" ".join(sents[i : i + size])[:max_chars] for i in range(len(sents) - size + 1)]
    if len(out) > max_windows:  # keep the spread: evenly spaced windows
        idx = np.linspace(0, len(out) - 1, max_windows).round().astype(int)
        out = [out[i] for i in sorted(set(idx))]
    return out


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min()) if len(x) else 0.0
    return (x - x.min()) / span if span > 0 else np.ones_like(x)


@lru_cache(maxsize=2)
def _cross_encoder(name: str) -> Any:
    from sentence_transformers import CrossEncoder

    log.info("loading cross-encoder %s", name)
    return CrossEncoder(name, device="cpu")


async def rerank(
    query: str,
    hits: list[Hit],
    k: int = 10,
    *,
    alpha: float = 0.7,
    window: int = 2,
    model: str | None = None,
) -> list[Hit]:
    """Reorder candidate chunks by how well their best passage answers the question; keep the top k."""
    if not hits:
        return []
    deps = current()
    name = model if model is not None else deps.settings.rerank_model
    fused = np.asarray([h.score for h in hits], dtype=np.float32)
    if name:
        ce = _cross_encoder(name)

        def _predict() -> np.ndarray:
            with _CE_LOCK:
                return np.asarray(ce.predict([(query, h.text) for h in hits]), dtype=np.float32)

        rel = await asyncio.to_thread(_predict)
        scores = rel
    else:
        from memory.documents.ingest import embed_cached

        per_hit = [windows(f"{h.text}", window) for h in hits]
        flat = [w for ws in per_hit for w in ws]
        embed_query = getattr(deps.embedder, "embed_query", None)  # the router embedded it already
        qv = (
            await asyncio.to_thread(embed_query, query)
            if embed_query is not None
            else (await asyncio.to_thread(deps.embedder.embed, [query]))[0]
        )
        wv = await embed_cached(deps.db, deps.embedder, flat)
        sims = wv @ qv
        rel = np.zeros(len(hits), dtype=np.float32)
        i = 0
        for j, ws in enumerate(per_hit):
            rel[j] = float(sims[i : i + len(ws)].max()) if ws else 0.0
            i += len(ws)
        scores = alpha * _minmax(rel) + (1 - alpha) * _minmax(fused)
    order = np.argsort(-scores, kind="stable")[:k]
    return [
        replace(
            hits[i],
            score=float(scores[i]),
            extra={**hits[i].extra, "retrieval_score": float(fused[i]), "rerank_rel": float(rel[i])},
        )
        for i in order
    ]


def decisive(hits: list[Hit], *, min_runs: int = 2) -> bool:
    """True when the top hit is clearly ahead: it ranked first in every retrieval run (at least
    ``min_runs`` of them, e.g. dense and BM25), so a rerank would not change the answer's source."""
    if not hits:
        return True
    if len(hits) == 1:
        return True
    ranks = hits[0].extra.get("ranks") or {}
    n_runs = int(hits[0].extra.get("n_runs", len(ranks)))
    return n_runs >= min_runs and len(ranks) == n_runs and all(r == 1 for r in ranks.values())


async def warm_rerank(*, batch: int = 256, window: int = 2) -> int:
    """Embed (and cache) the sentence windows of every chunk, so reranking never embeds at query time.

    Returns the number of windows. Safe to re-run: cached windows are not embedded again.
    """
    from memory.documents.ingest import embed_cached

    deps = current()
    n, last = 0, 0
    while True:
        rows = await deps.db.fetch(
            "SELECT id, text FROM chunks WHERE id > %s ORDER BY id LIMIT %s", last, batch
        )
        if not rows:
            return n
        flat = [w for r in rows for w in windows(r["text"], window)]
        await embed_cached(deps.db, deps.embedder, flat)
        n += len(flat)
        last = int(rows[-1]["id"])
