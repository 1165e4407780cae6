"""OpenSearch index backend (``LIBROMIND_INDEX=opensearch``; extra ``libromind[opensearch]``).

- **Mapping**: ``embedding`` is a ``knn_vector`` (384 dims, HNSW, ``cosinesimil``, Lucene engine by
  default: efficient filtering inside the graph search); ``text``/``title``/``section`` use the
  ``english`` analyzer (stemming + stop words); ``acl``/``source``/``doc_id``/``chunk_id`` are keywords.
- **ACL inside the query**: every dense, keyword and hybrid request filters on ``acl`` in *each*
  sub-query (``knn.filter`` and a ``bool.filter`` around ``match``), never after top-k.
- **ACL at fetch**: with a database (``make_index`` passes it), hits are checked against the
  ``chunks`` rows (the source of truth): an ACL change the OpenSearch copy does not have yet (the
  ingest changes ACLs in PostgreSQL only, until the next reindex) never shows a chunk to a principal
  who may no longer read it.
- **Hybrid**: a ``hybrid`` query through a search pipeline: ``normalization-processor`` (min_max +
  arithmetic_mean with configurable [bm25, knn] weights) or ``score-ranker-processor`` (RRF).
- **Bulk** indexing with ``opensearchpy.helpers.async_bulk`` (``max_retries`` + exponential backoff
  on 429s).
- **Zero-downtime reindex**: build ``<alias>-v<timestamp>``, bulk load, refresh, swap the alias in one
  ``_aliases`` request, delete the old index.
- **Degradation**: if the vector side fails (knn error, plugin missing, pipeline missing), the hybrid
  search is retried as BM25 only; logged and counted (``vector_fallbacks`` /
  ``METRICS["libromind_index_vector_fallbacks_total"]``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError, OpenSearchException, TransportError
from opensearchpy.helpers import async_bulk

from memory.documents.embed import DIM
from memory.index.base import Hit, IndexedChunk
from memory.settings import Settings

__all__ = ["METRICS", "OpenSearchIndex", "make_index"]

log = logging.getLogger(__name__)

Fusion = Literal["normalization", "rrf"]
METRICS: dict[str, int] = {"libromind_index_vector_fallbacks_total": 0}
_SOURCE_FIELDS = ["chunk_id", "doc_id", "source", "title", "section", "page", "text", "acl"]


class OpenSearchIndex:
    """``SearchIndex`` over OpenSearch: dense (k-NN), keyword (BM25), hybrid (search pipeline)."""

    name = "opensearch"

    def __init__(
        self,
        client: AsyncOpenSearch,
        *,
        alias: str = "libromind-chunks",
        dim: int = DIM,
        engine: Literal["lucene", "faiss"] = "lucene",
        fusion: Fusion = "normalization",
        weights: tuple[float, float] = (0.3, 0.7),
        rank_constant: int = 60,
        pipeline: str | None = None,
        shards: int = 1,
        replicas: int = 0,
        ef_search: int = 100,
        m: int = 16,
        ef_construction: int = 128,
        chunk_size: int = 500,
        max_retries: int = 3,
        initial_backoff: float = 1.0,
        max_backoff: float = 30.0,
        refresh_writes: bool | str = False,
        db: Any = None,
    ) -> None:
        if abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError("hybrid weights [bm25, knn] must sum to 1")
        self.client = client
        self.db = db
        self.alias = alias
        self.dim = dim
        self.engine = engine
        self.fusion: Fusion = fusion
        self.weights = weights
        self.rank_constant = rank_constant
        self.pipeline = pipeline or f"{alias}-hybrid-{fusion}"
        self.shards, self.replicas = shards, replicas
        self.ef_search, self.m, self.ef_construction = ef_search, m, ef_construction
        self.chunk_size, self.max_retries = chunk_size, max_retries
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.refresh_writes = refresh_writes
        self.vector_fallbacks = 0
        self._ready = False

    # ---------------------------------------------------------------- request bodies (pure)
    def index_body(self) -> dict[str, Any]:
        text = {
            "type": "text",
            "analyzer": "english",
            "fields": {"raw": {"type": "keyword", "ignore_above": 512}},
        }
        params: dict[str, Any] = {"m": self.m, "ef_construction": self.ef_construction}
        return {
            "settings": {
                "index": {
                    "knn": True,
                    "number_of_shards": self.shards,
                    "number_of_replicas": self.replicas,
                    **({"knn.algo_param.ef_search": self.ef_search} if self.engine == "faiss" else {}),
                },
            },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "chunk_id": {"type": "keyword"},
                    "doc_id": {"type": "keyword"},
                    "source": {"type": "keyword"},
                    "acl": {"type": "keyword"},
                    "title": text,
                    "section": text,
                    "page": {"type": "integer"},
                    "text": {"type": "text", "analyzer": "english"},
                    "embedding": {
                        "type": "knn_vector",
                        "dimension": self.dim,
                        "method": {
                            "name": "hnsw",
                            "space_type": "cosinesimil",
                            "engine": self.engine,
                            "parameters": params,
                        },
                    },
                },
            },
        }

    def pipeline_body(self, fusion: Fusion | None = None) -> dict[str, Any]:
        """Search pipeline for hybrid queries; weights are [bm25, knn] in sub-query order."""
        fusion = fusion or self.fusion
        weights = [float(w) for w in self.weights]
        if fusion == "rrf":
            processor: dict[str, Any] = {
                "score-ranker-processor": {
                    "combination": {
                        "technique": "rrf",
                        "rank_constant": self.rank_constant,
                        "parameters": {"weights": weights},
                    }
                }
            }
        else:
            processor = {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": weights}},
                }
            }
        return {"description": f"libromind hybrid search ({fusion})", "phase_results_processors": [processor]}

    @staticmethod
    def acl_filter(scopes: Sequence[str]) -> dict[str, Any]:
        return {"terms": {"acl": sorted(set(scopes))}}

    def knn_clause(self, vector: np.ndarray, k: int, scopes: Sequence[str]) -> dict[str, Any]:
        vec = [float(x) for x in np.asarray(vector, dtype=np.float32)]
        return {"knn": {"embedding": {"vector": vec, "k": k, "filter": self.acl_filter(scopes)}}}

    def bm25_clause(self, query: str, scopes: Sequence[str]) -> dict[str, Any]:
        return {
            "bool": {
                "must": [
                    {
                        "multi_match": {
                            "query": query,
                            "fields": ["text", "title^2", "section^1.5"],
                            "type": "best_fields",
                        }
                    }
                ],
                "filter": [self.acl_filter(scopes)],
            }
        }

    def _search_body(self, query: dict[str, Any], k: int) -> dict[str, Any]:
        return {"size": k, "_source": _SOURCE_FIELDS, "query": query}

    def dense_body(self, vector: np.ndarray, k: int, scopes: Sequence[str]) -> dict[str, Any]:
        return self._search_body(self.knn_clause(vector, k, scopes), k)

    def keyword_body(self, query: str, k: int, scopes: Sequence[str]) -> dict[str, Any]:
        return self._search_body(self.bm25_clause(query, scopes), k)

    def hybrid_body(
        self, query: str, vector: np.ndarray, k: int, scopes: Sequence[str], candidates: int | None = None
    ) -> dict[str, Any]:
        n = max(k, candidates or 2 * k)
        body = self._search_body(
            {"hybrid": {"queries": [self.bm25_clause(query, scopes), self.knn_clause(vector, n, scopes)]}}, k
        )
        return body

    def bulk_actions(self, chunks: Iterable[IndexedChunk], index: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "_op_type": "index",
                "_index": index or self.alias,
                "_id": c.chunk_id,
                "_source": {
                    "chunk_id": c.chunk_id,
                    "doc_id": c.doc_id,
                    "source": c.source,
                    "title": c.title,
                    "section": c.section,
                    "page": c.page,
                    "text": c.text,
                    "acl": c.acl,
                    "embedding": [float(x) for x in np.asarray(c.embedding, dtype=np.float32)],
                },
            }
            for c in chunks
        ]

    def alias_swap_body(self, new_index: str, old_indices: Sequence[str]) -> dict[str, Any]:
        actions: list[dict[str, Any]] = [
            {"remove": {"index": old, "alias": self.alias}} for old in old_indices
        ]
        actions.append({"add": {"index": new_index, "alias": self.alias, "is_write_index": True}})
        return {"actions": actions}

    # ---------------------------------------------------------------- setup
    def new_index_name(self) -> str:
        now = time.time()
        return f"{self.alias}-v{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}{int(now * 1000) % 1000:03d}"

    async def ensure_pipeline(self) -> None:
        await self.client.search_pipeline.put(id=self.pipeline, body=self.pipeline_body())

    async def ensure_index(self) -> None:
        """Create the first versioned index behind the alias (idempotent) and the search pipeline."""
        if self._ready:
            return
        if not await self.client.indices.exists_alias(name=self.alias):
            if await self.client.indices.exists(index=self.alias):
                raise RuntimeError(
                    f"{self.alias} is a concrete index, not an alias: reindex into an alias first"
                )
            name = self.new_index_name()
            await self.client.indices.create(index=name, body=self.index_body())
            await self.client.indices.update_aliases(body=self.alias_swap_body(name, []))
        await self.ensure_pipeline()
        self._ready = True

    async def _indices_behind_alias(self) -> list[str]:
        try:
            got = await self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return []
        return sorted(got)

    # ---------------------------------------------------------------- search
    async def _search(self, body: dict[str, Any], **params: Any) -> list[Hit]:
        resp = await self.client.search(index=self.alias, body=body, **params)
        return [_hit(h) for h in resp.get("hits", {}).get("hits", [])]

    async def _readable(self, hits: list[Hit], scopes: Sequence[str]) -> list[Hit]:
        """Only hits whose chunk row (database) still has an ACL in ``scopes`` (no database: as is)."""
        if self.db is None or not hits:
            return hits
        ids = [int(h.chunk_id) for h in hits if str(h.chunk_id).isdigit()]
        rows = await self.db.fetch(
            "SELECT id, acl FROM chunks WHERE id = ANY(%s) AND acl = ANY(%s)", ids, list(scopes)
        )
        acl = {str(r["id"]): r["acl"] for r in rows}
        kept = [h for h in hits if h.chunk_id in acl]
        for h in kept:
            h.acl = acl[h.chunk_id]
        return kept

    async def dense(self, vector: np.ndarray, k: int, scopes: Sequence[str]) -> list[Hit]:
        if not scopes:
            return []
        hits = await self._readable(await self._search(self.dense_body(vector, k, scopes)), scopes)
        for h in hits:  # Lucene/Faiss cosinesimil score = (1 + cos) / 2 -> cosine, like pgvector
            h.score = 2.0 * h.score - 1.0
        return hits

    async def keyword(self, query: str, k: int, scopes: Sequence[str]) -> list[Hit]:
        if not scopes or not query.strip():
            return []
        return await self._readable(await self._search(self.keyword_body(query, k, scopes)), scopes)

    async def hybrid(self, query: str, vector: np.ndarray, k: int, scopes: Sequence[str]) -> list[Hit]:
        """BM25 + k-NN fused by the search pipeline; BM25 only when the vector side fails."""
        if not scopes:
            return []
        try:
            hits = await self._search(
                self.hybrid_body(query, vector, k, scopes), search_pipeline=self.pipeline
            )
            return await self._readable(hits, scopes)
        except (TransportError, OpenSearchException) as exc:
            if not _is_vector_failure(exc):
                raise
            self.vector_fallbacks += 1
            METRICS["libromind_index_vector_fallbacks_total"] += 1
            log.warning(
                "opensearch hybrid search failed on the vector side (%s); degrading to BM25 only",
                _describe(exc),
            )
            hits = await self.keyword(query, k, scopes)
            for h in hits:
                h.extra["degraded"] = "bm25_only"
            return hits

    # ---------------------------------------------------------------- writes
    async def _bulk(self, actions: list[dict[str, Any]]) -> int:
        if not actions:
            return 0
        ok, errors = await async_bulk(
            self.client,
            actions,
            chunk_size=self.chunk_size,
            max_retries=self.max_retries,
            initial_backoff=self.initial_backoff,
            max_backoff=self.max_backoff,
            raise_on_error=False,
            refresh=self.refresh_writes,
        )
        if isinstance(errors, list) and errors:
            raise RuntimeError(f"opensearch bulk: {len(errors)} actions failed, first: {errors[0]!r}"[:2000])
        return int(ok)

    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        await self.ensure_index()
        await self._bulk(self.bulk_actions(chunks))

    async def delete_documents(self, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        await self.ensure_index()
        await self.client.delete_by_query(
            index=self.alias,
            body={"query": {"terms": {"doc_id": sorted(set(doc_ids))}}},
            params={"refresh": "true", "conflicts": "proceed"},
        )

    async def reindex(
        self, batches: AsyncIterable[Sequence[IndexedChunk]] | Iterable[Sequence[IndexedChunk]]
    ) -> str:
        """Build a new versioned index from ``batches``, swap the alias atomically, drop the old ones."""
        new = self.new_index_name()
        await self.client.indices.create(index=new, body=self.index_body())
        try:
            total = 0
            if hasattr(batches, "__aiter__"):
                async for batch in batches:  # type: ignore[union-attr]
                    total += await self._bulk(self.bulk_actions(batch, index=new))
            else:
                for batch in batches:  # type: ignore[union-attr]
                    total += await self._bulk(self.bulk_actions(batch, index=new))
            await self.client.indices.refresh(index=new)
        except BaseException:
            await self.client.indices.delete(index=new, params={"ignore_unavailable": "true"})
            raise
        old = [i for i in await self._indices_behind_alias() if i != new]
        await self.client.indices.update_aliases(body=self.alias_swap_body(new, old))
        for name in old:
            await self.client.indices.delete(index=name, params={"ignore_unavailable": "true"})
        await self.ensure_pipeline()
        self._ready = True
        log.info(
            "opensearch reindex: %d chunks into %s; alias %s swapped from %s", total, new, self.alias, old
        )
        return new

    async def refresh(self) -> None:
        await self.client.indices.refresh(index=self.alias)

    async def aclose(self) -> None:
        await self.client.close()


def _is_vector_failure(exc: Exception) -> bool:
    """True for errors of the k-NN / hybrid / pipeline side (not e.g. an unreachable cluster)."""
    text = _describe(exc).lower()
    if isinstance(exc, TransportError) and exc.status_code == "N/A":
        return False  # connection error: BM25 would fail the same way
    return any(
        s in text
        for s in (
            "knn",
            "k-nn",
            "vector",
            "hybrid",
            "pipeline",
            "neural",
            "embedding",
            "dimension",
            "faiss",
            "lucene",
        )
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, TransportError):
        return f"{exc.status_code} {exc.error} {exc.info!s}"[:500]
    return str(exc)[:500]


def _hit(h: dict[str, Any]) -> Hit:
    s = h.get("_source", {})
    return Hit(
        chunk_id=str(s.get("chunk_id", h.get("_id"))),
        doc_id=str(s.get("doc_id", "")),
        source=s.get("source", ""),
        title=s.get("title", ""),
        section=s.get("section", ""),
        page=s.get("page"),
        text=s.get("text", ""),
        score=float(h.get("_score") or 0.0),
        acl=s.get("acl", "public"),
    )


def make_client(url: str, **kwargs: Any) -> AsyncOpenSearch:
    return AsyncOpenSearch(hosts=[url], timeout=kwargs.pop("timeout", 10), **kwargs)


def make_index(settings: Settings, db: Any = None, **options: Any) -> OpenSearchIndex:
    """The factory ``memory.index.make_index`` calls for ``LIBROMIND_INDEX=opensearch``."""
    if settings.opensearch_url is None:
        raise ValueError("LIBROMIND_INDEX=opensearch needs LIBROMIND_OPENSEARCH_URL")
    client = options.pop("client", None) or make_client(settings.opensearch_url.get_secret_value())
    options.pop("home", None)
    if db is not None and callable(getattr(db, "fetch", None)):
        options.setdefault("db", db)
    return OpenSearchIndex(client, alias=settings.opensearch_index, **options)
