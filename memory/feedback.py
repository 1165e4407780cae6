"""Answers given by the agent and the reactions (👍/👎) to them (tables from migration 0030)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from memory.db import Database

__all__ = ["new_answer_id", "record_answer", "get_answer", "upsert_feedback", "feedback_summary"]


def new_answer_id() -> str:
    return "ans_" + secrets.token_hex(10)


async def record_answer(
    db: Database,
    *,
    answer_id: str,
    principal: str,
    channel: str,
    thread_id: str,
    question: str,
    answer: str,
    steps: Sequence[str],
    citations: Sequence[dict[str, Any]],
    policy: str,
    model: str | None,
    latency_ms: float,
    cache_hit: bool = False,
    cache_entry_id: str | None = None,
    order_id: str | None = None,
) -> None:
    chunk_ids = [str(c["chunk_id"]) for c in citations if c.get("chunk_id")]
    await db.execute(
        "INSERT INTO answers (id, principal, channel, thread_id, question, answer, steps, citations, chunk_ids,"
        " policy, model, latency_ms, cache_hit, cache_entry_id, order_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING",
        answer_id,
        principal,
        channel,
        thread_id,
        question[:4000],
        answer[:20000],
        json.dumps(list(steps)),
        json.dumps(list(citations)),
        chunk_ids,
        policy,
        model,
        float(latency_ms),
        cache_hit,
        cache_entry_id,
        order_id,
    )


async def get_answer(db: Database, answer_id: str) -> dict[str, Any] | None:
    return await db.fetchrow("SELECT * FROM answers WHERE id = %s", answer_id)


async def upsert_feedback(
    db: Database, *, answer_id: str, principal: str, channel: str, score: int, comment: str | None = None
) -> dict[str, Any]:
    """One reaction per (answer, principal); a new reaction replaces the old one."""
    row = await db.fetchrow(
        "INSERT INTO feedback (answer_id, principal, channel, score, comment) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (answer_id, principal) DO UPDATE SET score = EXCLUDED.score,"
        " comment = EXCLUDED.comment, channel = EXCLUDED.channel, updated_at = now()"
        " RETURNING answer_id, principal, channel, score, comment",
        answer_id,
        principal,
        channel,
        int(score),
        comment,
    )
    assert row is not None
    return dict(row)


async def feedback_summary(db: Database) -> dict[str, Any]:
    """Counts of 👍/👎 overall and per policy."""
    rows = await db.fetch(
        "SELECT a.policy, sum((f.score = 1)::int) AS up, sum((f.score = -1)::int) AS down"
        " FROM feedback f JOIN answers a ON a.id = f.answer_id GROUP BY a.policy ORDER BY a.policy"
    )
    per = {r["policy"]: {"up": int(r["up"] or 0), "down": int(r["down"] or 0)} for r in rows}
    return {
        "up": sum(v["up"] for v in per.values()),
        "down": sum(v["down"] for v in per.values()),
        "by_policy": per,
    }
