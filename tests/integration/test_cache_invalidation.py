"""Re-ingesting a document drops the cached answers that cited it (real PostgreSQL, real ChatService)."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.service import ChatService
from tools.knowledge import ingest_paths

REPO = Path(__file__).resolve().parents[2]
CHAPTER = REPO / "data/docs/debian-policy/policy.html/ch-sharedlibs.html"


async def test_reingest_invalidates_cached_answers(deps, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "sharedlibs.html"
    shutil.copy(CHAPTER, doc)
    await ingest_paths([doc], "public")
    chat = await ChatService.create(deps, memory="memory")
    question = "Should shared libraries be installed executable?"
    first = await chat.ask("customer:c1", None, question, channel="web")
    assert first["citations"] and not first["cache_hit"]
    again = await chat.ask("customer:c1", None, question, channel="web")
    assert again["cache_hit"], "the second identical question should be answered from the cache"
    cited = {c["chunk_id"] for c in first["citations"]}
    rows = await deps.db.fetch("SELECT chunk_ids FROM cache_entries")
    assert rows and cited & {c for r in rows for c in r["chunk_ids"]}

    doc.write_text(
        doc.read_text(encoding="utf-8").replace("</body>", "<p>A new paragraph.</p></body>"), encoding="utf-8"
    )
    summary = await ingest_paths([doc], "public")
    assert summary["indexed"] == 1
    rows = await deps.db.fetch("SELECT chunk_ids FROM cache_entries")
    assert not (cited & {c for r in rows for c in r["chunk_ids"]}), (
        "entries citing replaced chunks must be gone"
    )
    after = await chat.ask("customer:c1", None, question, channel="web")
    assert not after["cache_hit"]


async def test_acl_change_during_a_turn_is_never_cached_for_customers(  # type: ignore[no-untyped-def]
    deps, tmp_path: Path, monkeypatch
) -> None:
    """Issue 12 item 6: the document turns internal after the turn retrieved it (between the cache
    lookup and the store): the answer is not filed under the new corpus version's public partition."""
    from memory.documents import store
    from tools import knowledge

    doc = tmp_path / "sharedlibs.html"
    shutil.copy(CHAPTER, doc)
    await ingest_paths([doc], "public")
    row = await deps.db.fetchrow("SELECT id::text AS id FROM documents WHERE source = %s", doc.name)
    assert row is not None
    chat = await ChatService.create(deps, memory="memory")
    question = "Should shared libraries be installed executable?"
    real = knowledge.retrieve

    async def retrieve_then_acl_change(*args, **kwargs):  # type: ignore[no-untyped-def]
        hits = await real(*args, **kwargs)
        await store.update_acl(deps.db, row["id"], "internal")  # an upload/ingest commits meanwhile
        return hits

    monkeypatch.setattr(knowledge, "retrieve", retrieve_then_acl_change)
    raced = await chat.ask("customer:c1", None, question, channel="web")
    monkeypatch.setattr(knowledge, "retrieve", real)
    assert {c["source"] for c in raced["citations"]} == {doc.name}, "retrieved while still public"
    version = await store.corpus_version(deps.db)
    leaked = await deps.db.fetch(
        "SELECT partition FROM cache_entries WHERE partition LIKE %s", f"public|c{version}|%"
    )
    assert not leaked, f"an answer from a now-internal document was cached as public: {leaked}"
    later = await chat.ask("customer:c2", None, question, channel="web")
    assert not later["cache_hit"] and doc.name not in {c["source"] for c in later["citations"]}
