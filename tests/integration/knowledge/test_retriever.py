"""The LangChain wrapper passes the langchain-tests standard retriever suite on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from memory.documents.ingest import ingest_document
from memory.principals import Principal
from memory.settings import Settings
from tests.integration.knowledge._data import DOC_A, DOC_B
from tools.deps import Deps
from tools.retriever import LibromindRetriever, close_runners


class TestLibromindRetriever(RetrieversIntegrationTests):
    _settings: Settings | None = None

    @pytest.fixture(autouse=True)
    async def _corpus(self, settings: Settings, deps: Deps) -> AsyncIterator[None]:
        for name, text in (
            ("returns.md", DOC_A),
            ("shipping.md", DOC_B),
            ("gifts.md", "# Gifts\n\nGift cards never expire.\n\n## Wrapping\n\nWe gift-wrap books."),
        ):
            out = await ingest_document(deps.db, deps.embedder, deps.settings, text.encode(), name)
            assert out.status == "indexed"
        type(self)._settings = settings
        yield
        close_runners()

    @property
    def retriever_constructor(self) -> type[LibromindRetriever]:
        return LibromindRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"settings": type(self)._settings, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "how long does shipping take?"


async def test_retriever_uses_current_deps_and_acl(deps: Deps) -> None:
    await ingest_document(
        deps.db,
        deps.embedder,
        deps.settings,
        b"# Staff\n\nThe staff room code is 4711.",
        "staff.md",
        acl="internal",
    )
    await ingest_document(deps.db, deps.embedder, deps.settings, DOC_B.encode(), "shipping.md")
    public = await LibromindRetriever(k=5).ainvoke("staff room code")
    assert all(d.metadata["source"] != "staff.md" for d in public)
    staff = await LibromindRetriever(k=5, principal=str(Principal.parse("employee:e1"))).ainvoke(
        "staff room code"
    )
    assert staff[0].metadata["source"] == "staff.md" and staff[0].id == staff[0].metadata["chunk_id"]
