"""Fixtures for the semantic-cache contract suite: one parametrized backend fixture (pgvector on the
embedded PostgreSQL, redisvl on a Redis with the query engine started from wheels)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from memory.cache.semantic import CacheFront
from memory.db import Database
from memory.documents.embed import Embedder, get_embedder
from tests.integration.redis_server import redis_stack_server


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_stack_server() as url:
        yield url


@pytest.fixture(params=["pgvector", "redis"])
def cache_backend(request: pytest.FixtureRequest, embedder: Embedder) -> Iterator[object]:
    # A sync fixture: the async ``db`` fixture and the session ``pg_template`` (asyncio.run) are
    # requested outside the running event loop.
    if request.param == "pgvector":
        from memory.cache.pgvector import PgVectorCache

        db: Database = request.getfixturevalue("db")
        yield PgVectorCache(db)
    else:
        from memory.cache.redis import RedisCache

        url = request.getfixturevalue("redis_url")
        backend = RedisCache(url, index_name=f"t-{uuid.uuid4().hex[:10]}", embedder=embedder)
        yield backend
        backend.semantic_cache.delete()
        backend.semantic_cache.disconnect()


@pytest.fixture
def front(cache_backend: object, embedder: Embedder) -> CacheFront:
    return CacheFront(cache_backend, embedder)  # type: ignore[arg-type]
