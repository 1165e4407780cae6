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
