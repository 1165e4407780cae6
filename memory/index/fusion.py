"""Rank fusion: reciprocal rank fusion and normalised score combination (weights configurable)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from memory.index.base import Hit

__all__ = ["rrf", "score_fusion", "fuse", "FusionMethod"]

FusionMethod = Literal["rrf", "score"]


def _weights(runs: Sequence[Sequence[Hit]], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError("one weight per run")
    return [float(w) for w in weights]


def rrf(runs: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None, k: int = 60) -> list[Hit]:
    """Weighted reciprocal rank fusion: score = sum_i w_i / (k + rank_i)."""
    ws = _weights(runs, weights)
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    parts: dict[str, dict[str, int]] = {}
    for i, (run, w) in enumerate(zip(runs, ws, strict=True)):
        for rank, hit in enumerate(run, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + w / (k + rank)
            first.setdefault(hit.chunk_id, hit)
            parts.setdefault(hit.chunk_id, {})[f"run{i}"] = rank
    return _ordered(first, scores, parts, len(runs))


def score_fusion(runs: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None) -> list[Hit]:
    """Weighted sum of min-max normalised scores (a hit absent from a run contributes 0 for it)."""
    ws = _weights(runs, weights)
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    parts: dict[str, dict[str, int]] = {}
    for i, (run, w) in enumerate(zip(runs, ws, strict=True)):
        if not run:
            continue
        vals = [h.score for h in run]
        lo, hi = min(vals), max(vals)
        span = hi - lo
        for rank, hit in enumerate(run, start=1):
            norm = (hit.score - lo) / span if span > 0 else 1.0
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + w * norm
            first.setdefault(hit.chunk_id, hit)
            parts.setdefault(hit.chunk_id, {})[f"run{i}"] = rank
    return _ordered(first, scores, parts, len(runs))


def fuse(
    runs: Sequence[Sequence[Hit]],
    method: FusionMethod = "rrf",
    weights: Sequence[float] | None = None,
    rrf_k: int = 60,
) -> list[Hit]:
    if method == "rrf":
        return rrf(runs, weights, rrf_k)
    if method == "score":
        return score_fusion(runs, weights)
    raise ValueError(f"unknown fusion method {method!r}: use 'rrf' or 'score'")


def _ordered(
    first: dict[str, Hit], scores: dict[str, float], parts: dict[str, dict[str, int]], n_runs: int
) -> list[Hit]:
    """Fused hits, best first; ``extra["ranks"]`` holds each hit's 1-based rank in every run it was in."""
    out = [
        replace(first[cid], score=s, extra={**first[cid].extra, "ranks": parts[cid], "n_runs": n_runs})
        for cid, s in scores.items()
    ]
    out.sort(key=lambda h: (-h.score, h.chunk_id))
    return out
