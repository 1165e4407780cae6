"""ChatService on the real stack: embedded PostgreSQL, real ingestion and retrieval, the PostgreSQL
checkpointer (memory across service instances), feedback rows and cache invalidation on 👎."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.policy import reset_policies
from agent.service import ChatService
from libromind.bootstrap import INTERNAL_DOCS

REPO = Path(__file__).resolve().parents[3]
POLICY = REPO / "data" / "docs" / "debian-policy" / "policy.html"


@pytest.fixture
async def loaded(deps):
    from tools.knowledge import ingest_paths

    reset_policies()
    await ingest_paths([POLICY / "ch-docs.html", POLICY / "ch-archive.html"], "public")
    await ingest_paths(sorted(p for p in INTERNAL_DOCS.glob("*.md") if p.name != "README.md"), "internal")
    return deps


async def test_docs_answer_acl_memory_and_feedback(loaded) -> None:
    deps = loaded
    svc = await ChatService.create(deps, cache=True)
    r = await svc.ask("customer:it1", "t1", "Where should manual pages be installed?")
    assert "retrieve" in r["steps"] and r["steps"][-1] == "answer"
    assert "/usr/share/man" in r["answer"] and r["citations"] and r["citations"][0]["chunk_id"]
    assert r["answer_id"]

    # a customer never receives internal text, an employee does
    r = await svc.ask("customer:it1", None, "How much discount do people get on books for personal use?")
    assert "35 percent" not in r["answer"]
    assert all("staff-handbook" not in str(c["source"]) for c in r["citations"])
    r = await svc.ask("employee:it2", None, "What is the staff discount?")
    assert "35 percent" in r["answer"]

    # memory survives a new ChatService (same database): follow-up resolved from the checkpointed thread
    await svc.ask("employee:it3", "sup", "What is the first response target on Slack?")
    svc2 = await ChatService.create(deps, cache=False)
    r = await svc2.ask("employee:it3", "sup", "what about for Discord?")
    assert "4 hours" in r["answer"], r

    # feedback is stored with what produced the answer; 👎 drops the cache entry of a cached answer
    q = "Which manual page sections may packages use?"
    first = await svc.ask("customer:it4", None, q)
    again = await svc.ask("customer:it4", None, q)
    assert first["citations"], first
    assert again["cache_hit"] is True and again["answer"] == first["answer"], (first, again)
    fb = await svc.feedback(again["answer_id"], "customer:it4", -1, channel="cli", comment="wrong")
    assert fb["score"] == -1 and fb["cache_invalidated"] == 1
    row = await deps.db.fetchrow("SELECT * FROM answers WHERE id = %s", again["answer_id"])
    assert row["policy"] == "offline" and row["cache_hit"] is True and row["question"] == q
    third = await svc.ask("customer:it4", None, q)
    assert third["cache_hit"] is False
    from tools.errors import Forbidden

    with pytest.raises(Forbidden):
        await svc.feedback(third["answer_id"], "customer:someone-else", 1)
