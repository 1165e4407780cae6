"""OpenSearch backend: the exact request bodies, recorded by a fake connection (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from memory.index.base import IndexedChunk, SearchIndex
from memory.index.opensearch import METRICS, OpenSearchIndex
from tests.unit.opensearch.fake import Recorder, fake_client

VEC = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
SCOPES = ["public", "internal"]


def _index(recorder: Recorder, **kw: object) -> OpenSearchIndex:
    return OpenSearchIndex(fake_client(recorder), alias="books", **kw)  # type: ignore[arg-type]


def _hits(*rows: tuple[str, float]) -> dict[str, object]:
    return {
        "hits": {
            "total": {"value": len(rows)},
            "hits": [
                {
                    "_id": cid,
                    "_score": score,
                    "_source": {
                        "chunk_id": cid,
                        "doc_id": "d1",
                        "source": "a.md",
                        "title": "A",
                        "section": "S",
                        "page": None,
                        "text": f"text {cid}",
                        "acl": "public",
                    },
                }
                for cid, score in rows
            ],
        }
    }


def _chunk(cid: str, acl: str = "public") -> IndexedChunk:
    return IndexedChunk(
        chunk_id=cid,
        doc_id="d1",
        source="a.md",
        title="A",
        section="S",
        page=2,
        text=f"text {cid}",
        acl=acl,
        embedding=VEC,
    )


def test_is_a_search_index() -> None:
    assert isinstance(_index(Recorder()), SearchIndex)


async def test_index_creation_mapping_alias_and_pipeline() -> None:
    rec = Recorder()
    idx = _index(rec)
    await idx.ensure_index()
    await idx.ensure_index()  # idempotent: no second round
    [create] = rec.find("PUT", r"/books-v\d+")
    assert create.body == {
        "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "chunk_id": {"type": "keyword"},
                "doc_id": {"type": "keyword"},
                "source": {"type": "keyword"},
                "acl": {"type": "keyword"},
                "title": {
                    "type": "text",
                    "analyzer": "english",
                    "fields": {"raw": {"type": "keyword", "ignore_above": 512}},
                },
                "section": {
                    "type": "text",
                    "analyzer": "english",
                    "fields": {"raw": {"type": "keyword", "ignore_above": 512}},
                },
                "page": {"type": "integer"},
                "text": {"type": "text", "analyzer": "english"},
                "embedding": {
                    "type": "knn_vector",
                    "dimension": 384,
                    "method": {
                        "name": "hnsw",
                        "space_type": "cosinesimil",
                        "engine": "lucene",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
            },
        },
    }
    [alias] = rec.find("POST", "/_aliases")
    assert alias.body == {
        "actions": [{"add": {"index": create.path[1:], "alias": "books", "is_write_index": True}}]
    }
    [pipe] = rec.find("PUT", "/_search/pipeline/books-hybrid-normalization")
    assert pipe.body == {
        "description": "libromind hybrid search (normalization)",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.3, 0.7]}},
                }
            }
        ],
    }


async def test_faiss_engine_mapping() -> None:
    body = _index(Recorder(), engine="faiss", ef_search=80).index_body()
    assert body["settings"]["index"]["knn.algo_param.ef_search"] == 80
    assert body["mappings"]["properties"]["embedding"]["method"]["engine"] == "faiss"


async def test_rrf_pipeline_body() -> None:
    rec = Recorder()
    idx = _index(rec, fusion="rrf", weights=(0.4, 0.6), rank_constant=40)
    await idx.ensure_pipeline()
    [pipe] = rec.find("PUT", "/_search/pipeline/books-hybrid-rrf")
    assert pipe.body == {
        "description": "libromind hybrid search (rrf)",
        "phase_results_processors": [
            {
                "score-ranker-processor": {
                    "combination": {
                        "technique": "rrf",
                        "rank_constant": 40,
                        "parameters": {"weights": [0.4, 0.6]},
                    }
                }
            }
        ],
    }


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(ValueError):
        _index(Recorder(), weights=(0.5, 0.6))


async def test_hybrid_search_body_filters_acl_in_both_subqueries() -> None:
    rec = Recorder()
    rec.on("POST", "/books/_search", (200, _hits(("c1", 0.9), ("c2", 0.4))))
    idx = _index(rec)
    hits = await idx.hybrid("return policy", VEC, 5, SCOPES)
    assert [h.chunk_id for h in hits] == ["c1", "c2"] and hits[0].score == pytest.approx(0.9)
    [req] = rec.find("POST", "/books/_search")
    assert req.params == {"search_pipeline": "books-hybrid-normalization"}
    acl = {"terms": {"acl": ["internal", "public"]}}
    assert req.body == {
        "size": 5,
        "_source": ["chunk_id", "doc_id", "source", "title", "section", "page", "text", "acl"],
        "query": {
            "hybrid": {
                "queries": [
                    {
                        "bool": {
                            "must": [
                                {
                                    "multi_match": {
                                        "query": "return policy",
                                        "fields": ["text", "title^2", "section^1.5"],
                                        "type": "best_fields",
                                    }
                                }
                            ],
                            "filter": [acl],
                        }
                    },
                    {
                        "knn": {
                            "embedding": {
                                "vector": [pytest.approx(float(VEC[0]))] * 384,
                                "k": 10,
                                "filter": acl,
                            }
                        }
                    },
                ]
            }
        },
    }


async def test_dense_and_keyword_bodies_and_scores() -> None:
    rec = Recorder()
    rec.on("POST", "/books/_search", (200, _hits(("c1", 0.95))))
    idx = _index(rec)
    dense = await idx.dense(VEC, 3, ["public"])
    assert dense[0].score == pytest.approx(0.9), "cosinesimil (1+cos)/2 is mapped back to cosine"
    kw = await idx.keyword("refund", 3, ["public"])
    assert kw[0].score == pytest.approx(0.95)
    d, k = rec.find("POST", "/books/_search")
    assert d.body["query"] == {
        "knn": {
            "embedding": {
                "vector": d.body["query"]["knn"]["embedding"]["vector"],
                "k": 3,
                "filter": {"terms": {"acl": ["public"]}},
            }
        }
    }
    assert k.body["query"]["bool"]["filter"] == [{"terms": {"acl": ["public"]}}]
    assert d.params == {} and k.params == {}
    assert await idx.dense(VEC, 3, []) == [] and await idx.keyword("  ", 3, ["public"]) == []


async def test_bulk_body() -> None:
    rec = Recorder()
    idx = _index(rec)
    await idx.upsert([_chunk("c1"), _chunk("c2", "internal")])
    [bulk] = rec.find("POST", "/_bulk")
    assert len(bulk.body) == 4
    assert bulk.body[0] == {"index": {"_index": "books", "_id": "c1"}}
    src = bulk.body[1]
    assert {k: v for k, v in src.items() if k != "embedding"} == {
        "chunk_id": "c1",
        "doc_id": "d1",
        "source": "a.md",
        "title": "A",
        "section": "S",
        "page": 2,
        "text": "text c1",
        "acl": "public",
    }
    assert len(src["embedding"]) == 384
    assert bulk.body[2] == {"index": {"_index": "books", "_id": "c2"}} and bulk.body[3]["acl"] == "internal"


async def test_bulk_retries_rejected_items() -> None:
    rec = Recorder()
    rejected = {
        "took": 1,
        "errors": True,
        "items": [
            {"index": {"_id": "c1", "status": 429, "error": {"type": "es_rejected_execution_exception"}}}
        ],
    }
    ok = {"took": 1, "errors": False, "items": [{"index": {"_id": "c1", "status": 201}}]}
    rec.on("POST", "/_bulk", (200, rejected), (200, ok))
    idx = _index(rec, initial_backoff=0.01, max_retries=2)
    await idx.upsert([_chunk("c1")])
    assert len(rec.find("POST", "/_bulk")) == 2


async def test_bulk_errors_raise() -> None:
    rec = Recorder()
    bad = {
        "took": 1,
        "errors": True,
        "items": [{"index": {"_id": "c1", "status": 400, "error": {"type": "mapper_parsing_exception"}}}],
    }
    rec.on("POST", "/_bulk", (200, bad))
    with pytest.raises(RuntimeError, match="mapper_parsing_exception"):
        await _index(rec).upsert([_chunk("c1")])


async def test_delete_documents_body() -> None:
    rec = Recorder()
    await _index(rec).delete_documents(["d2", "d1", "d1"])
    [req] = rec.find("POST", "/books/_delete_by_query")
    assert req.body == {"query": {"terms": {"doc_id": ["d1", "d2"]}}}
    assert req.params == {"refresh": "true", "conflicts": "proceed"}


async def test_reindex_swaps_alias_atomically_and_deletes_old() -> None:
    rec = Recorder()
    rec.on("GET", "/_alias/books", (200, {"books-v1": {"aliases": {"books": {}}}}))
    idx = _index(rec)

    async def batches():  # type: ignore[no-untyped-def]
        yield [_chunk("c1")]
        yield [_chunk("c2")]

    new = await idx.reindex(batches())
    assert new.startswith("books-v")
    [create] = rec.find("PUT", f"/{new}")
    assert create.body == idx.index_body()
    bulks = rec.find("POST", "/_bulk")
    assert [b.body[0]["index"]["_index"] for b in bulks] == [new, new]
    assert rec.find("POST", f"/{new}/_refresh")
    [swap] = rec.find("POST", "/_aliases")
    assert swap.body == {
        "actions": [
            {"remove": {"index": "books-v1", "alias": "books"}},
            {"add": {"index": new, "alias": "books", "is_write_index": True}},
        ]
    }
    order = [(r.method, r.path) for r in rec.requests]
    assert order.index(("POST", "/_aliases")) < order.index(("DELETE", "/books-v1"))


async def test_reindex_failure_drops_new_index_and_keeps_alias() -> None:
    rec = Recorder()
    bad = {
        "took": 1,
        "errors": True,
        "items": [{"index": {"_id": "c1", "status": 400, "error": {"type": "x"}}}],
    }
    rec.on("POST", "/_bulk", (200, bad))
    idx = _index(rec)
    with pytest.raises(RuntimeError):
        await idx.reindex([[_chunk("c1")]])
    assert not rec.find("POST", "/_aliases")
    assert len(rec.find("DELETE", r"/books-v\d+")) == 1


async def test_hybrid_degrades_to_bm25_when_vector_side_fails() -> None:
    rec = Recorder()
    error = {
        "error": {
            "type": "illegal_argument_exception",
            "reason": "[knn] queries cannot be executed: k-NN plugin not enabled",
        },
        "status": 400,
    }
    rec.on("POST", "/books/_search", (400, error), (200, _hits(("c3", 7.5))))
    idx = _index(rec)
    before = METRICS["libromind_index_vector_fallbacks_total"]
    hits = await idx.hybrid("return policy", VEC, 5, ["public"])
    assert [h.chunk_id for h in hits] == ["c3"] and hits[0].extra["degraded"] == "bm25_only"
    assert idx.vector_fallbacks == 1
    assert METRICS["libromind_index_vector_fallbacks_total"] == before + 1
    first, second = rec.find("POST", "/books/_search")
    assert "hybrid" in first.body["query"] and first.params == {
        "search_pipeline": "books-hybrid-normalization"
    }
    assert second.params == {} and second.body["query"]["bool"]["filter"] == [{"terms": {"acl": ["public"]}}]


async def test_non_vector_errors_are_not_masked() -> None:
    rec = Recorder()
    rec.on(
        "POST", "/books/_search", (403, {"error": {"type": "security_exception", "reason": "no permissions"}})
    )
    from opensearchpy.exceptions import AuthorizationException

    with pytest.raises(AuthorizationException):
        await _index(rec).hybrid("q", VEC, 5, ["public"])


def test_factory_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from memory.index import make_index
    from memory.settings import Settings

    s = Settings(
        home=tmp_path,
        index="opensearch",
        opensearch_url="http://localhost:9200",  # type: ignore[arg-type]
        opensearch_index="lm",
        _env_file=None,
    )  # type: ignore[call-arg]
    idx = make_index(s, None)  # type: ignore[arg-type]
    assert isinstance(idx, OpenSearchIndex) and idx.alias == "lm"
    with pytest.raises(ValueError, match="OPENSEARCH_URL"):
        make_index(Settings(home=tmp_path, index="opensearch", _env_file=None), None)  # type: ignore[arg-type,call-arg]
