"""Retrieval metrics over graded gold items (small, tested functions; binary relevance).

A query has gold items (source + evidence). A retrieved chunk is relevant to a gold item when its
source equals the gold source and its whitespace-collapsed text contains the whitespace-collapsed
evidence (DESIGN.md). A gold item counts once: the first chunk that covers it earns the gain; later
chunks covering only already-found items earn nothing (so overlapping chunks cannot inflate scores).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["collapse", "matches", "gains", "recall_at", "mrr_at", "ndcg_at", "percentile", "score_query"]

_WS = re.compile(r"\s+")


def collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def matches(result: dict[str, Any], gold: dict[str, Any]) -> bool:
    return result.get("source") == gold["source"] and collapse(gold["evidence"]) in collapse(
        result.get("text", "")
    )


def gains(results: Sequence[dict[str, Any]], gold: Sequence[dict[str, Any]]) -> tuple[list[int], list[bool]]:
    """Per rank: the gain (1 if the chunk covers a not-yet-found gold item) and whether it is relevant."""
    found: set[int] = set()
    out: list[int] = []
    relevant: list[bool] = []
    for r in results:
        hit = [i for i, g in enumerate(gold) if matches(r, g)]
        relevant.append(bool(hit))
        new = [i for i in hit if i not in found]
        if new:
            found.add(new[0])
        out.append(1 if new else 0)
    return out, relevant


def recall_at(g: Sequence[int], n_gold: int, k: int) -> float:
    return sum(g[:k]) / n_gold if n_gold else 0.0


def mrr_at(relevant: Sequence[bool], k: int) -> float:
    for i, rel in enumerate(relevant[:k], start=1):
        if rel:
            return 1.0 / i
    return 0.0


def ndcg_at(g: Sequence[int], n_gold: int, k: int) -> float:
    dcg = sum(x / math.log2(i + 2) for i, x in enumerate(g[:k]))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(n_gold, k)))
    return dcg / ideal if ideal else 0.0


def score_query(results: Sequence[dict[str, Any]], gold: Sequence[dict[str, Any]]) -> dict[str, float]:
    g, rel = gains(results, gold)
    return {
        "recall@5": recall_at(g, len(gold), 5),
        "recall@10": recall_at(g, len(gold), 10),
        "mrr@10": mrr_at(rel, 10),
        "ndcg@10": ndcg_at(g, len(gold), 10),
    }


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
