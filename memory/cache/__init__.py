"""Semantic answer cache: pgvector (default) or Redis with the query engine (redisvl).

Correctness rules (what ``CacheFront`` and its callers guarantee):

- **Partitioned**: an entry is only ever returned to a principal with exactly the same ACL scopes and
  only while the corpus and catalog versions are the ones it was answered under
  (:func:`cache_partition`). A new corpus or catalog version therefore starts an empty partition.
- **Invalidated** when any chunk it cited is re-ingested or deleted (``invalidate_chunks``), when its
  answer gets a thumbs-down (``invalidate_entry``), and by TTL (``expires_at`` / Redis key expiry).
- **Never for personal answers**: answers that depend on the user (cart, orders, account, anything
  that called a catalog/order tool with the principal) must not be stored. The caller (ChatService)
  decides: it only calls ``store`` for grounded document answers whose route used no per-user tool.
- **Near-miss guard**: a vector match is reused only when the deterministic guard in
  :mod:`memory.cache.guard` agrees (negations, numbers, quoted strings, names, identifiers, rare
  words); the similarity threshold and guard settings are tuned with ``libromind eval cache``.

``make_cache(settings, db, embedder)`` builds the configured backend (``LIBROMIND_CACHE``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from memory.cache.base import CacheEntry, SemanticCache
from memory.settings import MissingExtra, Settings

if TYPE_CHECKING:
    from memory.cache.semantic import CacheFront
    from memory.db import Database
    from memory.documents.embed import Embedder

__all__ = [
    "FRONT_KEY",
    "CacheEntry",
    "SemanticCache",
    "cache_partition",
    "make_cache",
    "make_cache_front",
    "DEFAULT_THRESHOLD",
    "DEFAULT_TTL_S",
    "partition_tag",
]

# Cosine similarity a cached question must reach, tuned with the guard on the tune half of
# evals/datasets/cache_pairs.jsonl (`libromind eval cache --tune`); the guard does the fine work.
DEFAULT_THRESHOLD = 0.70
# Where an entry point keeps its CacheFront in tools.deps.Deps.extras.
FRONT_KEY = "cache_front"
DEFAULT_TTL_S = 24 * 3600


def cache_partition(scopes: Iterable[str], corpus_version: Any, catalog_version: Any) -> str:
    """The partition key: sorted ACL scopes + corpus version + catalog version.

    ``("public","internal"), 7, 3`` -> ``"internal,public|c7|k3"``. Two principals share cached
    answers only when they may read exactly the same documents, and only within one corpus and
    catalog version.
    """
    s = sorted({str(x).strip().lower() for x in scopes if str(x).strip()})
    if not s:
        raise ValueError("cache_partition needs at least one ACL scope")
    for scope in s:
        if any(c in scope for c in ",|"):
            raise ValueError(f"invalid scope {scope!r} in cache partition")
    return f"{','.join(s)}|c{corpus_version}|k{catalog_version}"


def partition_tag(partition: str) -> str:
    """A short, tag-safe digest of a partition key (for backends with tag filters)."""
    return "p" + hashlib.sha256(partition.encode()).hexdigest()[:32]


def make_cache(
    settings: Settings, db: Database | None, embedder: Embedder | None = None, **kwargs: Any
) -> SemanticCache | None:
    """The configured semantic cache backend, or None when ``LIBROMIND_CACHE=off``.

    ``pgvector`` uses the ``cache_entries`` table (migration 0040); ``redis`` needs
    ``LIBROMIND_REDIS_URL`` pointing at a Redis with the query engine (RediSearch) and the
    ``libromind[redis]`` extra (redisvl), imported only here.
    """
    kind = settings.cache
    if kind == "off":
        return None
    if kind == "pgvector":
        from memory.cache.pgvector import PgVectorCache

        if db is None:
            raise ValueError("the pgvector cache needs a database")
        return PgVectorCache(db, **kwargs)
    if kind == "redis":
        for module in ("redis", "redisvl"):
            try:
                __import__(module)
            except ImportError as exc:
                raise MissingExtra(module, "redis") from exc
        from memory.cache.redis import RedisCache

        if settings.redis_url is None:
            raise ValueError(
                "LIBROMIND_CACHE=redis needs LIBROMIND_REDIS_URL (a Redis with the query engine)"
            )
        return RedisCache(settings.redis_url.get_secret_value(), embedder=embedder, **kwargs)
    raise ValueError(f"unknown cache backend {kind!r}")


def make_cache_front(
    settings: Settings, db: Database | None, embedder: Embedder, **kwargs: Any
) -> CacheFront | None:
    """``make_cache`` wrapped in the :class:`~memory.cache.semantic.CacheFront` ChatService uses."""
    from memory.cache.semantic import CacheFront

    backend = make_cache(settings, db, embedder)
    return None if backend is None else CacheFront(backend, embedder, **kwargs)
