"""The retrieval contract every ``SearchIndex`` backend passes (pgvector, OpenSearch).

Use: subclass :class:`IndexContract` in a ``test_*.py`` module and provide a ``harness`` fixture
(see :func:`make_harness`, parametrized over :data:`BACKENDS`). A harness loads a small corpus the
way that backend is fed in production (pgvector: the ``chunks`` table through
``memory.documents.store``; OpenSearch: ``upsert`` bulk indexing) and deletes documents the same way.
The OpenSearch parametrization needs ``OPENSEARCH_URL`` (a live cluster with the k-NN and neural
plugins); without it that parametrization is skipped with a reason saying so.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from memory.documents.embed import Embedder, get_embedder
from memory.index.base import Hit, IndexedChunk, SearchIndex

__all__ = ["BACKENDS", "CORPUS", "Harness", "IndexContract", "make_harness", "OPENSEARCH_SKIP_REASON"]

BACKENDS = ["pgvector", "opensearch"]
OPENSEARCH_SKIP_REASON = "OPENSEARCH_URL not set; live OpenSearch suite not run"

# doc key -> (source, acl, [chunk texts])
CORPUS: dict[str, tuple[str, str, list[str]]] = {
    "returns": (
        "policies/returns.md",
        "public",
        [
            "Books can be returned within 30 days of delivery for a full refund if they are unread.",
            "Damaged books are replaced free of charge; send us a photo of the damage.",
        ],
    ),
    "shipping": (
        "policies/shipping.md",
        "public",
        [
            "Standard shipping takes three to five business days within the country.",
            "Express shipping delivers the next business day when ordered before noon.",
        ],
    ),
    "staff": (
        "internal/staff-discount.md",
        "internal",
        [
            "Employees receive a forty percent staff discount on all books, "
            "including refunds policy exceptions.",
        ],
    ),
    "buyers": (
        "internal/buyers.md",
        "group:buyers",
        [
            "Wholesale supplier Zanzibar Books ships pallets every Tuesday to the warehouse.",
        ],
    ),
}


@dataclass
class Harness:
    """One backend under test: the index plus how that backend is fed and pruned."""

    name: str
    index: SearchIndex
    embedder: Embedder
    chunk_ids: dict[tuple[str, int], str] = field(default_factory=dict)
    doc_ids: dict[str, str] = field(default_factory=dict)
    impl: Any = None

    async def load(self, docs: dict[str, tuple[str, str, list[str]]] = CORPUS) -> None:
        await self.impl.load(self, docs)

    async def delete(self, key: str) -> None:
        await self.impl.delete(self, key)

    def vector(self, text: str) -> np.ndarray:
        return self.embedder.embed_one(text)


class _PgFeed:
    def __init__(self, db: Any) -> None:
        self.db = db

    async def load(self, h: Harness, docs: dict[str, tuple[str, str, list[str]]]) -> None:
        from memory.documents import store

        for key, (source, acl, texts) in docs.items():
            doc_id = await store.begin_document(self.db, source, acl, pending_hash=None)
            vecs = h.embedder.embed(texts)
            rows = [
                store.ChunkRow(
                    ord=i,
                    text=t,
                    section_path=["S"],
                    page=None,
                    token_count=len(t.split()),
                    embedding=vecs[i],
                )
                for i, t in enumerate(texts)
            ]
            await store.replace_chunks(self.db, doc_id, acl, store.DocMeta(title=key.title()), rows)
            h.doc_ids[key] = doc_id
            got = await self.db.fetch("SELECT id, ord FROM chunks WHERE doc_id = %s", doc_id)
            for r in got:
                h.chunk_ids[(key, int(r["ord"]))] = str(r["id"])
        await _maybe_refresh(h.index)

    async def delete(self, h: Harness, key: str) -> None:
        from memory.documents import store

        await store.delete_document(self.db, h.doc_ids[key])
        await h.index.delete_documents([h.doc_ids[key]])
        await _maybe_refresh(h.index)


class _UpsertFeed:
    async def load(self, h: Harness, docs: dict[str, tuple[str, str, list[str]]]) -> None:
        chunks = []
        for key, (source, acl, texts) in docs.items():
            doc_id = str(uuid.uuid5(uuid.NAMESPACE_URL, source))
            h.doc_ids[key] = doc_id
            vecs = h.embedder.embed(texts)
            for i, t in enumerate(texts):
                cid = f"{doc_id}:{i}"
                h.chunk_ids[(key, i)] = cid
                chunks.append(
                    IndexedChunk(
                        chunk_id=cid,
                        doc_id=doc_id,
                        source=source,
                        title=key.title(),
                        section="S",
                        page=None,
                        text=t,
                        acl=acl,
                        embedding=vecs[i],
                    )
                )
        await h.index.upsert(chunks)
        await _maybe_refresh(h.index)

    async def delete(self, h: Harness, key: str) -> None:
        await h.index.delete_documents([h.doc_ids[key]])
        await _maybe_refresh(h.index)


async def _maybe_refresh(index: Any) -> None:
    refresh = getattr(index, "refresh", None)
    if refresh is not None:
        await refresh()


def make_harness(request: pytest.FixtureRequest, backend: str) -> Iterator[Harness]:
    """Build the harness for ``backend`` (call from a *sync* fixture: it may request ``db``)."""
    embedder = get_embedder()
    if backend == "pgvector":
        from memory.index.pgvector import PgVectorIndex

        db = request.getfixturevalue("db")
        tmp = request.getfixturevalue("tmp_path")
        yield Harness("pgvector", PgVectorIndex(db, home=tmp), embedder, impl=_PgFeed(db))
        return
    if backend == "opensearch":
        url = os.environ.get("OPENSEARCH_URL")
        if not url:
            pytest.skip(OPENSEARCH_SKIP_REASON)
        from memory.index.opensearch import OpenSearchIndex, make_client

        alias = f"lm-contract-{uuid.uuid4().hex[:8]}"
        index = OpenSearchIndex(make_client(url), alias=alias, refresh_writes="wait_for")
        yield Harness("opensearch", index, embedder, impl=_UpsertFeed())

        async def cleanup() -> None:
            client = make_client(url)
            try:
                await client.indices.delete(index=f"{alias}-v*", params={"ignore_unavailable": "true"})
                await client.search_pipeline.delete(id=index.pipeline, params={"ignore": 404})
            finally:
                await client.close()

        asyncio.run(cleanup())
        return
    raise ValueError(backend)


def _ids(hits: list[Hit]) -> list[str]:
    return [h.chunk_id for h in hits]


class IndexContract:
    """Retrieval behaviour every backend must show (dense, keyword, ACL inside the query, deletes)."""

    async def test_is_a_search_index(self, harness: Harness) -> None:
        assert isinstance(harness.index, SearchIndex)

    async def test_dense_ranks_the_closest_chunk_first(self, harness: Harness) -> None:
        await harness.load()
        hits = await harness.index.dense(harness.vector("how long does delivery take"), 3, ["public"])
        assert hits and hits[0].chunk_id == harness.chunk_ids[("shipping", 0)]
        assert len(hits) <= 3
        assert all(hits[i].score >= hits[i + 1].score for i in range(len(hits) - 1))
        assert -1.0 <= hits[0].score <= 1.0 + 1e-6, "dense scores are cosine similarities"

    async def test_keyword_matches_terms(self, harness: Harness) -> None:
        await harness.load()
        hits = await harness.index.keyword("photo damage", 5, ["public"])
        assert hits and hits[0].chunk_id == harness.chunk_ids[("returns", 1)]
        h = hits[0]
        assert (
            h.source == "policies/returns.md" and h.doc_id == harness.doc_ids["returns"] and h.acl == "public"
        )
        assert "photo" in h.text and set(h.to_result()) == {
            "chunk_id",
            "doc_id",
            "source",
            "title",
            "section",
            "page",
            "text",
            "score",
        }

    async def test_acl_is_filtered_inside_the_query(self, harness: Harness) -> None:
        await harness.load()
        q = "staff discount for employees"
        public_dense = await harness.index.dense(harness.vector(q), 10, ["public"])
        public_kw = await harness.index.keyword(q, 10, ["public"])
        assert public_dense and all(h.acl == "public" for h in public_dense + public_kw)
        staff = harness.chunk_ids[("staff", 0)]
        assert staff not in _ids(public_dense) + _ids(public_kw)
        emp = await harness.index.dense(harness.vector(q), 1, ["internal", "public"])
        assert _ids(emp) == [staff], "top-1 for an employee is the internal chunk (filter is not post-hoc)"
        emp_kw = await harness.index.keyword(q, 1, ["internal", "public"])
        assert _ids(emp_kw) == [staff]
        buyers = harness.chunk_ids[("buyers", 0)]
        kw = await harness.index.keyword("Zanzibar wholesale pallets", 5, ["internal", "public"])
        assert buyers not in _ids(kw)
        kw = await harness.index.keyword("Zanzibar wholesale pallets", 5, ["group:buyers", "public"])
        assert _ids(kw)[:1] == [buyers]

    async def test_delete_documents_removes_their_chunks(self, harness: Harness) -> None:
        await harness.load()
        await harness.delete("returns")
        gone = {harness.chunk_ids[("returns", 0)], harness.chunk_ids[("returns", 1)]}
        dense = await harness.index.dense(harness.vector("refund within 30 days"), 10, ["public"])
        kw = await harness.index.keyword("refund returned damaged photo", 10, ["public"])
        assert not gone & set(_ids(dense) + _ids(kw))
        assert dense, "other documents are still there"
