from __future__ import annotations

import pytest

from evals.metrics import collapse, gains, matches, mrr_at, ndcg_at, percentile, recall_at, score_query
from memory.index.base import Hit
from memory.index.bm25 import analyze, tokenize
from memory.index.fusion import fuse, rrf, score_fusion
from tools.rerank import decisive, windows


def hit(cid: str, score: float) -> Hit:
    return Hit(chunk_id=cid, doc_id="d", source="s", title="t", section="", page=None, text=cid, score=score)


def test_rrf_orders_by_weighted_reciprocal_rank() -> None:
    a = [hit("x", 9), hit("y", 8), hit("z", 7)]
    b = [hit("y", 0.9), hit("w", 0.5)]
    out = rrf([a, b], k=60)
    assert [h.chunk_id for h in out][:2] == ["y", "x"]
    assert out[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert out[0].extra["ranks"] == {"run0": 2, "run1": 1}
    # weights: a dominant first run wins
    out = rrf([a, b], weights=[1.0, 0.0])  # weights: only the first run counts
    assert out[0].chunk_id == "x"


def test_score_fusion_minmax() -> None:
    a = [hit("x", 10), hit("y", 5), hit("z", 0)]
    b = [hit("z", 1.0), hit("y", 0.5)]
    out = score_fusion([a, b])
    scores = {h.chunk_id: h.score for h in out}
    assert scores == pytest.approx({"x": 1.0, "y": 0.5, "z": 1.0})
    assert fuse([a, b], "score")[0].chunk_id in ("x", "z")
    with pytest.raises(ValueError):
        fuse([a], "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rrf([a, b], weights=[1.0])


def test_fusion_does_not_mutate_inputs() -> None:
    a = [hit("x", 10)]
    rrf([a, a])
    assert a[0].score == 10 and a[0].extra == {}


def test_decisive() -> None:
    a = [hit("x", 9), hit("y", 8)]
    b = [hit("x", 0.9), hit("y", 0.5)]
    c = [hit("y", 0.9), hit("x", 0.5)]
    assert decisive(rrf([a, b]))
    assert not decisive(rrf([a, c]))
    assert not decisive(a)  # no fusion info: not decisive unless a single hit
    assert decisive([hit("x", 1)])


def test_windows() -> None:
    text = "First sentence here. Second one follows! Third? Fourth sentence.\n\nFifth block."
    ws = windows(text, 2)
    assert ws[0] == "First sentence here. Second one follows!"
    assert len(ws) == 4
    assert windows("one sentence only") == ["one sentence only"]
    assert windows("   ") == []
    many = " ".join(f"Sentence {i}." for i in range(100))
    assert len(windows(many, 2, max_windows=12)) <= 12


def test_analyzer() -> None:
    assert analyze("The packages are Installed") == ["packages", "installed"]
    assert tokenize("The packages are Installed") == ["packag", "instal"]


GOLD = [{"source": "a.html", "evidence": "must  be\nset"}, {"source": "b.pdf", "evidence": "must be set"}]


def test_relevance_rule() -> None:
    assert collapse(" a \n b\t c ") == "a b c"
    assert matches({"source": "a.html", "text": "it must be   set to x"}, GOLD[0])
    assert not matches({"source": "b.pdf", "text": "it must be set"}, GOLD[0])
    assert not matches({"source": "a.html", "text": "must not be set"}, GOLD[0])


def test_metrics() -> None:
    results = [
        {"source": "c", "text": "nothing"},
        {"source": "a.html", "text": "must be set"},
        {"source": "a.html", "text": "so it must be set"},  # same gold item again: no gain
        {"source": "b.pdf", "text": "must be set"},
    ]
    g, rel = gains(results, GOLD)
    assert g == [0, 1, 0, 1] and rel == [False, True, True, True]
    assert recall_at(g, 2, 2) == 0.5 and recall_at(g, 2, 10) == 1.0
    assert mrr_at(rel, 10) == 0.5 and mrr_at(rel, 1) == 0.0
    import math

    assert ndcg_at(g, 2, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    s = score_query(results, GOLD)
    assert s["recall@5"] == 1.0 and s["mrr@10"] == 0.5
    assert score_query([], GOLD)["ndcg@10"] == 0.0


def test_percentile() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile(list(range(101)), 95) == 95
