"""Passage vectors precomputed in the background: every chunk's rerank windows and answer sentences land in
the embedding cache, new chunks start pending, concurrent workers split the work, and a docs turn then
embeds nothing but the question (same answer as without the precompute)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from agent.policy import reset_policies
from agent.service import ChatService
from memory.documents import store
from memory.documents.ingest import model_key
from tests.integration.knowledge._data import DOC_A, DOC_B
from tools import knowledge as kn
from tools.deps import Deps
from tools.passages import embed_passage_batch, passage_texts

QUESTION = "How many days do I have to return a book?"


class CountingEmbedder:
    """The real embedder, recording the texts it is asked to embed in batches (queries excluded)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts, batch_size)  # type: ignore[no-any-return]


async def _pending(deps: Deps) -> int:
    row = await deps.db.fetchrow("SELECT count(*) AS n FROM chunks WHERE NOT passages_ready")
    assert row is not None
    return int(row["n"])


async def test_precompute_covers_every_passage_and_new_chunks_start_pending(
    deps: Deps, tmp_path: Path
) -> None:
    (tmp_path / "returns.md").write_text(DOC_A)
    (tmp_path / "shipping.md").write_text(DOC_B)
    await kn.ingest_paths([tmp_path], "public")
    total = await _pending(deps)
    assert total > 0

    # two workers at once (SKIP LOCKED): together they do each chunk exactly once
    done = await asyncio.gather(*(embed_passage_batch(deps.db, deps.embedder, 2) for _ in range(2)))
    assert sum(done) == min(total, 4) and await _pending(deps) == total - sum(done)
    while await embed_passage_batch(deps.db, deps.embedder, 3):
        pass
    assert await _pending(deps) == 0

    rows = await deps.db.fetch("SELECT text FROM chunks")
    hashes = {store.text_hash(t) for r in rows for t in passage_texts(r["text"])}
    cached = await store.cached_embeddings(deps.db, sorted(hashes), model_key(deps.embedder))
    assert set(cached) == hashes  # every window and sentence vector is there

    (tmp_path / "returns.md").write_text(DOC_A + "\n\nOpened books can be exchanged for store credit.\n")
    await kn.ingest_paths([tmp_path], "public")
    assert await _pending(deps) > 0  # the replaced document's new chunks wait for the next batch


async def test_docs_turn_embeds_only_the_question_once_passages_are_ready(deps: Deps, tmp_path: Path) -> None:
    (tmp_path / "returns.md").write_text(DOC_A)
    (tmp_path / "shipping.md").write_text(DOC_B)
    await kn.ingest_paths([tmp_path], "public")
    reset_policies()
    cold = await (await ChatService.create(deps, cache=False)).ask("customer:p1", None, QUESTION)
    assert cold["citations"], cold

    while await embed_passage_batch(deps.db, deps.embedder, 16):
        pass
    counting = CountingEmbedder(deps.embedder)
    deps.embedder = counting  # type: ignore[assignment]
    reset_policies()  # a new process: empty in-memory sentence cache
    warm = await (await ChatService.create(deps, cache=False)).ask("customer:p2", None, QUESTION)
    assert warm["answer"] == cold["answer"] and warm["steps"] == cold["steps"]
    rows = await deps.db.fetch("SELECT text FROM chunks")
    passages = {t for r in rows for t in passage_texts(r["text"])}
    assert not passages & set(counting.texts)  # windows and sentences came from the cache
    assert counting.texts, "the router's exemplars are embedded by the new policy (the check is live)"


async def test_a_new_embedding_model_marks_every_passage_pending_again(deps: Deps, tmp_path: Path) -> None:
    from memory.documents.embed import Embedder
    from tools.passages import sync_passage_model

    (tmp_path / "returns.md").write_text(DOC_A)
    await kn.ingest_paths([tmp_path], "public")
    assert await sync_passage_model(deps.db, deps.embedder) is False  # first time: recorded, nothing reset
    while await embed_passage_batch(deps.db, deps.embedder, 16):
        pass
    assert await _pending(deps) == 0
    assert await sync_passage_model(deps.db, deps.embedder) is False  # same model: kept
    other = Embedder(backend="torch" if deps.embedder.variant == "int8" else "onnx-int8")
    assert await sync_passage_model(deps.db, other) is True  # int8 <-> fp32 vectors differ
    assert await _pending(deps) > 0
    assert await sync_passage_model(deps.db, other) is False


async def test_chunks_from_another_model_are_reembedded(deps: Deps, tmp_path: Path) -> None:
    from memory.documents.embed import Embedder
    from tools.passages import reembed_chunk_batch

    (tmp_path / "returns.md").write_text(DOC_A)
    (tmp_path / "shipping.md").write_text(DOC_B)
    await kn.ingest_paths([tmp_path], "public")
    key = model_key(deps.embedder)
    rows = await deps.db.fetch("SELECT DISTINCT embed_model FROM chunks")
    assert [r["embed_model"] for r in rows] == [key]  # ingestion records the model
    assert await reembed_chunk_batch(deps.db, deps.embedder) == 0  # nothing to do

    other = Embedder(backend="torch" if deps.embedder.variant == "int8" else "onnx-int8")
    await deps.db.execute("UPDATE chunks SET embed_model = NULL WHERE id = (SELECT min(id) FROM chunks)")
    total = int((await deps.db.fetchrow("SELECT count(*) AS n FROM chunks"))["n"])  # type: ignore[index]
    assert await reembed_chunk_batch(deps.db, other, 1000) == total  # switched model: every chunk
    rows = await deps.db.fetch("SELECT text, embedding, embed_model FROM chunks")
    assert {r["embed_model"] for r in rows} == {model_key(other)}
    want = other.embed([r["text"] for r in rows])
    got = np.stack([store.as_array(r["embedding"]) for r in rows])
    assert float((want * got).sum(axis=1).min()) > 0.9999
    from memory.principals import Principal

    hits = await kn.search_documents(
        "how many days to return a book", k=3, principal=Principal.parse("customer:r1")
    )
    assert hits, "search still works on the re-embedded vectors"


async def test_the_serving_hook_reembeds_then_precomputes(deps: Deps, tmp_path: Path) -> None:
    from workers.startup import embed_passages_in_background

    (tmp_path / "returns.md").write_text(DOC_A)
    await kn.ingest_paths([tmp_path], "public")
    await deps.db.execute("UPDATE chunks SET embed_model = 'another-model'")
    await embed_passages_in_background(deps, batch=2, pause_s=0)
    rows = await deps.db.fetch("SELECT embed_model, passages_ready FROM chunks")
    assert rows and all(r["passages_ready"] and r["embed_model"] == model_key(deps.embedder) for r in rows)
