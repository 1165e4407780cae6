"""The semantic-cache contract (pgvector default, redisvl optional)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["CacheEntry", "SemanticCache"]


@dataclass
class CacheEntry:
    entry_id: str
    question: str
    reply: dict[str, Any]
    similarity: float
    chunk_ids: list[str] = field(default_factory=list)


@runtime_checkable
class SemanticCache(Protocol):
    """Entries are partitioned by ``partition`` (ACL scopes + corpus/catalog version)."""

    name: str

    async def lookup(self, vector: np.ndarray, question: str, partition: str) -> CacheEntry | None: ...

    async def store(
        self,
        vector: np.ndarray,
        question: str,
        partition: str,
        reply: dict[str, Any],
        chunk_ids: Sequence[str],
        ttl_s: int,
    ) -> str: ...

    async def invalidate_chunks(self, chunk_ids: Sequence[str]) -> int: ...

    async def invalidate_entry(self, entry_id: str) -> int: ...
