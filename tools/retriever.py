"""A LangChain ``BaseRetriever`` over libromind's hybrid retrieval (ACL-aware).

``LibromindRetriever(k=4, principal="customer:anonymous")``. In an async program that installed
resources with ``tools.deps.use`` (the agent, the web app), ``ainvoke`` runs on them directly. Sync
``invoke`` (and any call given ``settings``) runs on a private event loop in a background thread with
its own database pool, because an asyncio connection pool belongs to the loop that opened it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from memory.index.base import Hit
from memory.principals import Principal
from memory.settings import Settings, get_settings
from tools import deps as deps_mod

__all__ = ["LibromindRetriever", "close_runners", "hit_to_document"]

T = TypeVar("T")


def hit_to_document(hit: Hit) -> Document:
    meta = hit.to_result()
    meta.pop("text")
    return Document(page_content=hit.text, metadata=meta, id=hit.chunk_id)


class _Runner:
    """An event loop in a daemon thread holding its own Deps (database pool, index)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="libromind-retriever", daemon=True)
        self.thread.start()
        self._deps: deps_mod.Deps | None = None
        self._lock = asyncio.Lock()

    async def _deps_ready(self) -> deps_mod.Deps:
        async with self._lock:
            if self._deps is None:
                self._deps = await deps_mod.Deps.build(self.settings)
            return self._deps

    async def _with_deps(self, coro: Coroutine[Any, Any, T]) -> T:
        d = await self._deps_ready()
        token = deps_mod._current.set(d)  # this task only: never replaces the process's resources
        try:
            return await coro
        finally:
            deps_mod._current.reset(token)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(self._with_deps(coro), self.loop)

    def close(self) -> None:
        if self._deps is not None:
            fut = asyncio.run_coroutine_threadsafe(self._deps.close(), self.loop)
            with contextlib.suppress(Exception):  # best effort at shutdown
                fut.result(timeout=10)
            self._deps = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


_runners: dict[str, _Runner] = {}
_runners_lock = threading.Lock()


def _runner(settings: Settings) -> _Runner:
    key = settings.database_url.get_secret_value() if settings.database_url else f"embedded:{settings.home}"
    with _runners_lock:
        r = _runners.get(key)
        if r is None:
            r = _runners[key] = _Runner(settings)
        return r


def close_runners() -> None:
    """Close the background loops and their database pools."""
    with _runners_lock:
        runners = list(_runners.values())
        _runners.clear()
    for r in runners:
        r.close()


atexit.register(close_runners)


class LibromindRetriever(BaseRetriever):
    """Hybrid (dense + BM25) retrieval with rerank, filtered by the principal's ACL scopes."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = Field(default=4, ge=1, le=100)
    principal: str = "customer:anonymous"
    rerank: bool = True
    expand: bool = False
    use_hyde: bool = False
    settings: Settings | None = None  # resources for sync calls (default: from the environment)

    async def _search(self, query: str, k: int) -> list[Document]:
        from tools.knowledge import search_hits

        hits = await search_hits(
            query,
            k,
            principal=Principal.parse(self.principal),
            rerank=self.rerank,
            expand=self.expand,
            use_hyde=self.use_hyde,
        )
        return [hit_to_document(h) for h in hits]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        return _runner(self.settings or get_settings()).submit(self._search(query, k)).result()

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        if self.settings is None:
            try:
                deps_mod.current()
            except deps_mod.NotConfigured:
                pass
            else:
                return await self._search(query, k)
        fut = _runner(self.settings or get_settings()).submit(self._search(query, k))
        return await asyncio.wrap_future(fut)
