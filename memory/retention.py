"""Retention SQL: delete idle conversations (LangGraph checkpoints), old answers and old feedback.

- Checkpoints: a conversation (checkpoint thread) is deleted *whole* (``checkpoints``,
  ``checkpoint_blobs``, ``checkpoint_writes``) once its last checkpoint is older than the cutoff, so no
  thread is ever left half-deleted. A thread written to while the deletion runs keeps its data.
- Feedback: rows whose last change (``updated_at``) is older than the cutoff.
- Answers: rows older than the cutoff that no kept feedback refers to (feedback keeps its answer: a
  reaction is meaningless without what it rates). Their ``channel_messages`` links become NULL.

``days <= 0`` keeps that kind forever. Deletions run in batches so no lock is held for long.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from memory.db import Database

__all__ = [
    "RetentionPolicy",
    "RetentionResult",
    "apply_retention",
    "delete_idle_threads",
    "delete_old_answers",
    "delete_old_feedback",
]

BATCH = 500

_IDLE_THREADS = """
SELECT thread_id FROM checkpoints
GROUP BY thread_id
HAVING max((checkpoint->>'ts')::timestamptz) < now() - make_interval(days => %s)
LIMIT %s
"""
# Re-checked inside the transaction: a thread that got a new checkpoint since it was listed is kept.
_DELETE_CHECKPOINTS = """
DELETE FROM checkpoints c WHERE c.thread_id = ANY(%s)
AND NOT EXISTS (
    SELECT 1 FROM checkpoints n WHERE n.thread_id = c.thread_id
    AND (n.checkpoint->>'ts')::timestamptz >= now() - make_interval(days => %s)
)
RETURNING c.thread_id
"""
_DELETE_ORPHANS = """
DELETE FROM {table} t WHERE t.thread_id = ANY(%s)
AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.thread_id = t.thread_id)
"""
_OLD_FEEDBACK = """
DELETE FROM feedback WHERE ctid IN (
    SELECT ctid FROM feedback WHERE updated_at < now() - make_interval(days => %s) LIMIT %s
)
"""
_OLD_ANSWERS = """
DELETE FROM answers WHERE id IN (
    SELECT a.id FROM answers a
    WHERE a.created_at < now() - make_interval(days => %s)
    AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.answer_id = a.id)
    LIMIT %s
)
"""


@dataclass(frozen=True)
class RetentionPolicy:
    checkpoint_days: int = 0
    answer_days: int = 0
    feedback_days: int = 0

    @classmethod
    def from_settings(cls, settings: Any, overrides: dict[str, Any] | None = None) -> RetentionPolicy:
        o = overrides or {}
        return cls(
            checkpoint_days=int(o.get("checkpoint_days", settings.retention_checkpoint_days)),
            answer_days=int(o.get("answer_days", settings.retention_answer_days)),
            feedback_days=int(o.get("feedback_days", settings.retention_feedback_days)),
        )


@dataclass
class RetentionResult:
    threads: int = 0
    checkpoints: int = 0
    answers: int = 0
    feedback: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


async def _has_checkpoint_tables(db: Database) -> bool:
    row = await db.fetchrow("SELECT to_regclass('checkpoints') IS NOT NULL AS ok")
    return bool(row and row["ok"])


async def delete_idle_threads(db: Database, days: int, *, batch: int = BATCH) -> tuple[int, int]:
    """Delete every conversation whose last checkpoint is older than ``days``; (threads, checkpoints)."""
    if days <= 0 or not await _has_checkpoint_tables(db):
        return 0, 0
    threads = checkpoints = 0
    while True:
        rows = await db.fetch(_IDLE_THREADS, days, batch)
        ids = [r["thread_id"] for r in rows]
        if not ids:
            return threads, checkpoints
        async with db.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_DELETE_CHECKPOINTS, (ids, days))
            gone = {r["thread_id"] if isinstance(r, dict) else r[0] for r in await cur.fetchall()}
            for table in ("checkpoint_blobs", "checkpoint_writes"):
                await conn.execute(_DELETE_ORPHANS.format(table=table), (ids,))  # type: ignore[arg-type]
        checkpoints += cur.rowcount if cur.rowcount and cur.rowcount > 0 else 0
        threads += len(gone)
        if len(ids) < batch or not gone:
            return threads, checkpoints


async def _batched(db: Database, sql: str, days: int, batch: int) -> int:
    total = 0
    while True:
        async with db.pool.connection() as conn:
            cur = await conn.execute(sql, (days, batch))  # type: ignore[arg-type]
            n = cur.rowcount if cur.rowcount and cur.rowcount > 0 else 0
        total += n
        if n < batch:
            return total


async def delete_old_feedback(db: Database, days: int, *, batch: int = BATCH) -> int:
    return 0 if days <= 0 else await _batched(db, _OLD_FEEDBACK, days, batch)


async def delete_old_answers(db: Database, days: int, *, batch: int = BATCH) -> int:
    return 0 if days <= 0 else await _batched(db, _OLD_ANSWERS, days, batch)


async def apply_retention(db: Database, policy: RetentionPolicy) -> RetentionResult:
    """Apply ``policy``: idle threads, then feedback, then answers (so expired feedback frees its answer)."""
    result = RetentionResult()
    result.threads, result.checkpoints = await delete_idle_threads(db, policy.checkpoint_days)
    result.feedback = await delete_old_feedback(db, policy.feedback_days)
    result.answers = await delete_old_answers(db, policy.answer_days)
    return result
