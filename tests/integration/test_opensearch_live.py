"""The shared retrieval contract (tests/integration/index_contract.py) against every backend.

pgvector always runs (embedded PostgreSQL). OpenSearch runs when ``OPENSEARCH_URL`` points at a live
cluster (k-NN + neural-search plugins, 2.19+ for RRF); otherwise that parametrization is skipped with
the reason "OPENSEARCH_URL not set; live OpenSearch suite not run" (no OpenSearch server can be
started from packages here). Hybrid search is checked too on OpenSearch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.index_contract import BACKENDS, Harness, IndexContract, make_harness


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    yield from make_harness(request, request.param)


class TestIndexContract(IndexContract):
    async def test_hybrid(self, harness: Harness) -> None:
        """Server-side hybrid where the backend has it (OpenSearch), else dense + keyword fused the way
        pgvector retrieval does it (memory.index.fusion)."""
        await harness.load()
        q = "how long does delivery take"
        hybrid = getattr(harness.index, "hybrid", None)
        if hybrid is not None:
            hits = await hybrid(q, harness.vector(q), 3, ["public"])
        else:
            from memory.index.fusion import fuse

            runs = [
                await harness.index.keyword(q, 10, ["public"]),
                await harness.index.dense(harness.vector(q), 10, ["public"]),
            ]
            hits = fuse(runs, "rrf")[:3]
        assert hits and hits[0].chunk_id == harness.chunk_ids[("shipping", 0)]
        assert all(h.acl == "public" for h in hits) and len(hits) <= 3
