"""The retrieval contract every index backend implements (pgvector, OpenSearch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Hit", "IndexedChunk", "SearchIndex"]


@dataclass
class Hit:
    """One retrieved chunk. ``score`` is backend/stage specific (higher is better)."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str
    score: float
    acl: str = "public"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_result(self) -> dict[str, Any]:
        """The public result shape of ``libromind search`` (DESIGN.md)."""
        d = asdict(self)
        d.pop("acl")
        d.pop("extra")
        d["score"] = round(float(self.score), 6)
        return d


@dataclass
class IndexedChunk:
    """What an index stores per chunk (the database is the source of truth)."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str
    acl: str
    embedding: np.ndarray


@runtime_checkable
class SearchIndex(Protocol):
    """Dense + keyword search with ACL pre-filtering inside the query (never after top-k)."""

    name: str

    async def dense(self, vector: np.ndarray, k: int, scopes: Sequence[str]) -> list[Hit]: ...

    async def keyword(self, query: str, k: int, scopes: Sequence[str]) -> list[Hit]: ...

    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None: ...

    async def delete_documents(self, doc_ids: Sequence[str]) -> None: ...
